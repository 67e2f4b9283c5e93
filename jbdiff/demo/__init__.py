"""The built-in demo model: weights (fp16 safetensors), their SHA-256 and the model card."""

from pathlib import Path

DEMO_DIR = Path(__file__).resolve().parent
DEMO_BUNDLE = DEMO_DIR / "demo.safetensors"
DEMO_SHA256 = (DEMO_DIR / "demo.safetensors.sha256").read_text().split()[0]
MODEL_CARD = DEMO_DIR / "MODEL_CARD.md"
