// Prints (JSON on stdout) every kind of message the device builds, with its OSC bytes, so the
// Python contract test can feed them to the server's own decoder and validation
// (tests/test_max_for_live.py). Not a test file itself.
"use strict";

const path = require("node:path");
const { DEVICE, protocol, valueCorners } = require("./helpers");

const osc = require(path.join(DEVICE, "jbdiff_osc.js"));

const SONGS = [{ tempo: 120, numerator: 4, denominator: 4 }, { tempo: 999, numerator: 7, denominator: 8 },
               { tempo: 20, numerator: 1, denominator: 16 }];

function main() {
    const messages = [protocol.ping(), protocol.hello(9131), protocol.bye(), protocol.status(), protocol.paramList(),
                      protocol.cancel("j0000"), protocol.cancel("all"), protocol.jobGet("j0000"),
                      protocol.modelList(), protocol.modelGet(), protocol.modelSet("tiny"),
                      protocol.modelSet("my take.safetensors"), protocol.modelSet("/srv/jbdiff/models/big.yaml")];
    const seeds = [{ noise: 0, dd: 0 }, { noise: protocol.MAX_SEED, dd: 12345 }];
    let k = 0;
    for (const values of valueCorners()) {
        for (const spec of protocol.PARAMS.filter((p) => p.running)) {
            messages.push(protocol.paramSet(spec.name, values));
        }
        for (const song of SONGS) {
            k += 1;
            const ctx = {
                song, seeds: seeds[k % 2], tag: `m4l-dump-${k}`, name: k % 3 ? "Audio 1" : "",
                context: k % 2 ? "/drop/context.wav" : "", init: k % 4 === 1 ? "/drop/init.wav" : "",
            };
            try {
                messages.push(protocol.generate(values, ctx));
            } catch (e) {
                if (e.code !== "BadLength") {
                    throw e;
                }
            }
        }
    }
    const out = messages.map((m) => ({ address: m.address, hex: osc.encodeMessage(m).toString("hex") }));
    process.stdout.write(JSON.stringify(out));
}

main();
