// Message building and reply parsing against the server's own address table (docs/osc.json).
"use strict";

const test = require("node:test");
const assert = require("node:assert/strict");
const { API, protocol, messageProblems, serverAddresses, valueCorners } = require("./helpers");

const SONG = { tempo: 120, numerator: 4, denominator: 4 };
const CTX = { song: SONG, context: "", init: "", name: "Audio 1", seeds: { noise: 11, dd: 22 }, tag: "m4l-t-1" };

function accepted(message) {
    assert.deepEqual(messageProblems(message), [], JSON.stringify(message));
}

function pairs(message) {
    const out = {};
    for (let k = 0; k < message.args.length; k += 2) {
        out[message.args[k].value] = message.args[k + 1];
    }
    return out;
}

test("connection, job and live-parameter messages fit the server's address table", () => {
    for (const m of [protocol.ping(), protocol.hello(9131), protocol.hello(65535), protocol.bye(), protocol.paramList(),
                     protocol.status(), protocol.cancel("j12ab"), protocol.jobGet("j12ab")]) {
        accepted(m);
    }
    const values = protocol.defaultValues();
    for (const spec of protocol.PARAMS.filter((p) => p.running)) {
        accepted(protocol.paramSet(spec.name, values));
        accepted(protocol.paramSet(spec.name, { ...values, embedding_auto: 0 }));
    }
    assert.throws(() => protocol.paramSet("seconds", values), /cannot change a running job/);
});

test("every generate message the device can build fits the table, at every parameter corner", () => {
    let count = 0;
    for (const values of valueCorners()) {
        for (const ctx of [CTX, { ...CTX, context: "/drop/ctx.wav", init: "/drop/init.wav", name: "" }]) {
            let message;
            try {
                message = protocol.generate(values, ctx);
            } catch (e) {
                // only a length outside 0.5 .. 600 s may stop a message
                assert.equal(e.code, "BadLength", e.message);
                const seconds = protocol.lengthSeconds(values, SONG);
                assert.ok(seconds > protocol.MAX_SECONDS || seconds < protocol.MIN_SECONDS);
                continue;
            }
            accepted(message);
            count += 1;
        }
    }
    assert.ok(count > 100, `only ${count} messages checked`);
});

test("generate gives every key, so live parameters set by other clients never leak in", () => {
    const sent = Object.keys(pairs(protocol.generate(protocol.defaultValues(), CTX)));
    const expected = ["seconds", "levels", "context", "init", "init_strength", "noise_seed", "noise_style",
                      "noise_step_size", "dd_noise_seed", "dd_noise_style", "dd_noise_step_size",
                      "token_multiplier", "use_dd", "quality", "embedding_strength", "steps_0", "steps_1",
                      "steps_2", "steps_dd", "name", "tag"];
    assert.deepEqual(sent.sort(), expected.sort());
    assert.deepEqual([...protocol.GENERATE_KEYS, "tag"].sort(), expected.sort());
    assert.deepEqual(protocol.missingKeys(API.params.map((p) => p.name)), []);   // this server knows them all
    // the per-level and global keys the device does not set are still the server's to default
    for (const key of sent) {
        assert.ok(key === "tag" || API.params.some((p) => p.name === key), key);
    }
});

test("values reach the message as the server's words", () => {
    const values = { ...protocol.defaultValues(), levels: 1, noise_style: 3, dd_noise_style: 2, quality: 1,
                     use_dd: 0, embedding_auto: 0, embedding_strength: 7.5, steps_2: 40, token_multiplier: 4 };
    const p = pairs(protocol.generate(values, { ...CTX, context: "/d/c.wav" }));
    assert.deepEqual(p.levels, { type: "s", value: "21" });
    assert.deepEqual(p.noise_style, { type: "s", value: "walk" });
    assert.deepEqual(p.dd_noise_style, { type: "s", value: "region" });
    assert.deepEqual(p.quality, { type: "s", value: "draft" });
    assert.deepEqual(p.use_dd, { type: "i", value: 0 });
    assert.deepEqual(p.embedding_strength, { type: "f", value: 7.5 });
    assert.deepEqual(p.steps_2, { type: "i", value: 40 });
    assert.deepEqual(p.steps_1, { type: "s", value: "default" });      // 0 on the device: the model's
    assert.deepEqual(p.token_multiplier, { type: "i", value: 4 });
    assert.deepEqual(p.context, { type: "s", value: "/d/c.wav" });
    assert.deepEqual(p.init, { type: "s", value: "" });
    assert.deepEqual(p.noise_seed, { type: "i", value: 11 });
    assert.deepEqual(p.name, { type: "s", value: "Audio 1" });
    const auto = pairs(protocol.generate(protocol.defaultValues(), CTX));
    assert.deepEqual(auto.embedding_strength, { type: "s", value: "default" });
});

test("bars follow Live's tempo and time signature (tempo counts quarter notes)", () => {
    // one 4/4 bar = 4 beats; at 120 BPM a beat lasts 0.5 s
    assert.equal(protocol.barsToSeconds(4, 120, 4, 4), 4 * 4 * 0.5);
    // one 6/8 bar = six eighths = three quarters; at 90 BPM a quarter lasts 2/3 s
    assert.ok(Math.abs(protocol.barsToSeconds(1, 90, 6, 8) - 3 * (60 / 90)) < 1e-12);
    // 7/4 at 140 BPM, 2.5 bars
    assert.ok(Math.abs(protocol.barsToSeconds(2.5, 140, 7, 4) - 2.5 * 7 * 60 / 140) < 1e-12);
    assert.throws(() => protocol.barsToSeconds(1, 0, 4, 4), /positive/);
    const values = { ...protocol.defaultValues(), length_mode: 1, bars: 8 };
    const song = { tempo: 96, numerator: 3, denominator: 4 };
    const p = pairs(protocol.generate(values, { ...CTX, song }));
    assert.ok(Math.abs(p.seconds.value - 8 * 3 * 60 / 96) < 1e-9);
    assert.equal(protocol.describeLength(values, song), "8 bars = 15 s at 96 BPM 3/4");
    assert.equal(protocol.describeLength(protocol.defaultValues(), song), "12 s");
});

test("a length outside 0.5 .. 600 s is refused on the device with the numbers", () => {
    const values = { ...protocol.defaultValues(), length_mode: 1, bars: 64 };
    const slow = { tempo: 20, numerator: 4, denominator: 4 };          // 64 bars * 12 s = 768 s
    assert.throws(() => protocol.generate(values, { ...CTX, song: slow }),
                  (e) => e.code === "BadLength" && /64 bars = 768 s at 20 BPM/.test(e.message));
    const quarterBar = { ...protocol.defaultValues(), length_mode: 1, bars: 0.25 };
    const fast = { tempo: 400, numerator: 4, denominator: 4 };         // a quarter bar = 0.15 s
    assert.throws(() => protocol.generate(quarterBar, { ...CTX, song: fast }), (e) => e.code === "BadLength");
    assert.match(protocol.formatDeviceError(new Error("x")), /^Not sent: x/);
});

test("seeds: fresh from the random source, or the locked ones", () => {
    const values = protocol.defaultValues();
    assert.deepEqual(protocol.nextSeeds(values, () => 0.5), { noise: 8388608, dd: 8388608 });
    assert.deepEqual(protocol.nextSeeds(values, () => 0.999999999), { noise: protocol.MAX_SEED, dd: protocol.MAX_SEED });
    const locked = { ...values, lock_seeds: 1, noise_seed: 5, dd_noise_seed: 6 };
    assert.deepEqual(protocol.nextSeeds(locked, () => 0.5), { noise: 5, dd: 6 });
    // every seed survives Live's float parameter storage: 2^24 - 1 is exact in float32
    assert.equal(Math.fround(protocol.MAX_SEED), protocol.MAX_SEED);
});

test("track names become file-name parts the server accepts", () => {
    assert.equal(protocol.safeName("1-Audio"), "1-Audio");
    assert.equal(protocol.safeName("Drums/Perc: \"top\""), "Drums_Perc_ _top_");
    assert.equal(protocol.safeName("..hidden"), "hidden");
    assert.equal(protocol.safeName(""), "jbdiff");
    assert.equal(protocol.safeName("x".repeat(200)).length, 96);
});

// One sample of every message the server sends (addresses from docs/osc.json), and what it parses to.
const SAMPLES = {
    "/jbdiff/pong": [["0.1.0"], { kind: "pong", version: "0.1.0" }],
    "/jbdiff/hello/ok": [["0.1.0"], { kind: "hello", version: "0.1.0" }],
    "/jbdiff/bye/ok": [[], { kind: "bye" }],
    "/jbdiff/status": [["version", "0.1.0", "model", "ready", "queued", 2],
                       { kind: "status", items: { version: "0.1.0", model: "ready", queued: 2 } }],
    "/jbdiff/api/describe": [['{"namespace":"/jbdiff"}'], { kind: "describe", api: { namespace: "/jbdiff" } }],
    "/jbdiff/job/accepted": [["j1", "m4l-a-1"], { kind: "accepted", jobId: "j1", tag: "m4l-a-1" }],
    "/jbdiff/job/started": [["j1"], { kind: "started", jobId: "j1" }],
    "/jbdiff/job/progress": [["j1", "level1", 0.25], { kind: "progress", jobId: "j1", stage: "level1", fraction: 0.25 }],
    "/jbdiff/job/done": [["j1", "/out/j1_x.wav", 8.0], { kind: "done", jobId: "j1", path: "/out/j1_x.wav", seconds: 8 }],
    "/jbdiff/job/failed": [["j1", "context: cannot read"], { kind: "failed", jobId: "j1", reason: "context: cannot read" }],
    "/jbdiff/job/cancelled": [["j1"], { kind: "cancelled", jobId: "j1" }],
    "/jbdiff/job/interrupted": [["j1"], { kind: "interrupted", jobId: "j1" }],
    "/jbdiff/job/requeued": [["j1"], { kind: "requeued", jobId: "j1" }],
    "/jbdiff/cancel": [["j1", "cancelling"], { kind: "cancel", jobId: "j1", state: "cancelling" }],
    "/jbdiff/jobs": [["j1", "done", "j2", "queued"],
                     { kind: "jobs", jobs: [{ jobId: "j1", state: "done" }, { jobId: "j2", state: "queued" }] }],
    "/jbdiff/job/get": [["j1", "done", "take", "/o/j1.wav", 8, ""],
                        { kind: "job", jobId: "j1", state: "done", name: "take", path: "/o/j1.wav", seconds: 8, error: "" }],
    "/jbdiff/param/set": [["noise_step_size", 0.5], { kind: "param_set", name: "noise_step_size", value: 0.5 }],
    "/jbdiff/param/get": [["seconds", 12], { kind: "param_get", name: "seconds", value: 12 }],
    "/jbdiff/params": [["seconds", 12, "next"], { kind: "params", params: [{ name: "seconds", value: 12, scope: "next" }] }],
    "/jbdiff/param/list": [["seconds", "bars"], { kind: "param_list", names: ["seconds", "bars"] }],
    "/jbdiff/preset/save": [["soft", "/p/soft.json"], { kind: "preset_saved", name: "soft", path: "/p/soft.json" }],
    "/jbdiff/preset/load": [["soft"], { kind: "preset_loaded", name: "soft" }],
    "/jbdiff/preset/list": [["a", "b"], { kind: "preset_list", names: ["a", "b"] }],
    "/jbdiff/model/set": [["/data/models/mine.safetensors"], { kind: "model_set", model: "/data/models/mine.safetensors" }],
    "/jbdiff/model/get": [["tiny", "demo"], { kind: "model_get", model: "tiny", configured: "demo" }],
    "/jbdiff/model/list": [["demo", "tiny", "jbdiff-v1", "random-v1", "mine.safetensors"],
                           { kind: "model_list", names: ["demo", "tiny", "jbdiff-v1", "random-v1", "mine.safetensors"] }],
    "/jbdiff/hotfolder/status": [["watching", 1], { kind: "hotfolder_status", items: { watching: 1 } }],
    "/jbdiff/hotfolder/drops": [["init", "/d/init/a.wav", "queued", "j1", ""],
                                { kind: "drops", drops: [{ dropKind: "init", path: "/d/init/a.wav", state: "queued",
                                                           jobId: "j1", error: "" }] }],
    "/jbdiff/midi/status": [["backend", "none"], { kind: "midi_status", items: { backend: "none" } }],
    "/jbdiff/midi/ports": [["IAC Bus 1"], { kind: "midi_ports", names: ["IAC Bus 1"] }],
    "/jbdiff/midi/connect": [["IAC Bus 1"], { kind: "midi_connected", port: "IAC Bus 1" }],
    "/jbdiff/midi/in": [["generate j1"], { kind: "midi_in", actions: ["generate j1"] }],
    "/jbdiff/preview": [["j1", 8], { kind: "preview", jobId: "j1", seconds: 8 }],
    "/jbdiff/preview/stop": [[], { kind: "preview_stopped" }],
    "/jbdiff/record_context/started": [["/d/context/rec.wav", 4], { kind: "recording", path: "/d/context/rec.wav", seconds: 4 }],
    "/jbdiff/hotfolder/drop": [["init", "/d/init/a.wav", "j1"], { kind: "drop", dropKind: "init", path: "/d/init/a.wav", jobId: "j1" }],
    "/jbdiff/record_context/done": [["/d/context/rec.wav"], { kind: "recorded", path: "/d/context/rec.wav" }],
    "/jbdiff/audio/devices": [[0, "Built-in", 2, 2], { kind: "audio_devices",
                                                     devices: [{ index: 0, name: "Built-in", inputs: 2, outputs: 2 }] }],
    "/jbdiff/error": [["/jbdiff/generate", "seconds: 900 is out of range", "BadRequest"],
                      { kind: "error", address: "/jbdiff/generate", message: "seconds: 900 is out of range", code: "BadRequest" }],
};

test("every message the server sends (per docs/osc.json) is parsed", () => {
    const addresses = serverAddresses();
    assert.deepEqual([...addresses].sort(), Object.keys(SAMPLES).sort(),
                     "the server's table and the device's parser disagree: add the new replies");
    for (const [address, [args, expected]] of Object.entries(SAMPLES)) {
        assert.deepEqual(protocol.parse(address, args), expected, address);
    }
    assert.deepEqual(protocol.parse("/jbdiff/cancel", ["all", 3]), { kind: "cancel", all: true, count: 3 });
    assert.equal(protocol.parse("/other/thing", [1]).kind, "unknown");
});

test("replies that break their documented shape are reported, not trusted", () => {
    const bad = [
        ["/jbdiff/job/done", ["j1"]],
        ["/jbdiff/job/done", ["j1", "", 2.0]],
        ["/jbdiff/job/progress", ["j1", "level2", "half"]],
        ["/jbdiff/job/started", []],
        ["/jbdiff/job/started", [3]],
        ["/jbdiff/error", ["/jbdiff/generate"]],
        ["/jbdiff/job/get", ["j1", "done"]],
        ["/jbdiff/api/describe", ["{not json"]],
        ["/jbdiff/model/set", []],
        ["/jbdiff/model/set", [""]],
        ["/jbdiff/model/get", ["tiny"]],
        ["/jbdiff/model/get", [3, "tiny"]],
        ["/jbdiff/model/list", ["demo", 2]],
    ];
    for (const [address, args] of bad) {
        assert.equal(protocol.parse(address, args).kind, "malformed", `${address} ${JSON.stringify(args)}`);
    }
    assert.equal(protocol.parse("/jbdiff/job/progress", ["j1", "dd", 1.7]).fraction, 1);
});

test("errors read as one line: what failed, the server's words and what to do", () => {
    for (const code of Object.keys(API.errors.codes)) {
        const line = protocol.formatError({ address: "/jbdiff/generate", message: "m", code });
        assert.ok(line.startsWith(`Error (${code}) Generate: m`), line);
        assert.ok(line.length <= 140, line);
    }
    const badPath = protocol.formatError(protocol.parse("/jbdiff/error", [
        "/jbdiff/generate", "context: '/x.wav' resolves to /x.wav, outside the allowed folders /data/drop", "BadPath"]));
    assert.match(badPath, /drop folder/);
    const model = protocol.formatError({ address: "/jbdiff/generate", message: "no model", code: "ModelNotLoaded" });
    assert.match(model, /pick another Model, or run `jbdiff download jbdiff-v1`/);
    assert.doesNotMatch(model, /--tiny/);
    const long = protocol.formatError({ address: "/jbdiff/cancel", message: "x".repeat(500), code: "JobNotFound" });
    assert.ok(long.length <= 140, long);
    assert.match(long, /^Error \(JobNotFound\) Cancel: x+\.\.\. - the server does not know that job/);
    assert.equal(protocol.formatProgress({ stage: "level2", fraction: 0.256 }), "Rendering level 2 - 26%");
    assert.match(protocol.formatStatus({ version: "0.1.0", model: "missing", model_message: "run jbdiff download",
                                         queued: 0 }), /model missing: run jbdiff download/);
});

test("paths: Max's volume form, and the shared folder seen from both machines", () => {
    assert.equal(protocol.nativePath("Macintosh HD:/Users/me/a b.wav"), "/Users/me/a b.wav");
    assert.equal(protocol.nativePath("Samples:/loops/a.wav"), "/Volumes/Samples/loops/a.wav");
    assert.equal(protocol.nativePath("C:/Users/me/a.wav"), "C:/Users/me/a.wav");
    assert.equal(protocol.nativePath("/Users/me/a.wav"), "/Users/me/a.wav");
    const share = { local: "/Volumes/gpu/jbdiff", server: "/srv/jbdiff/data" };
    assert.equal(protocol.toServerPath("/Volumes/gpu/jbdiff/drop/a.wav", share), "/srv/jbdiff/data/drop/a.wav");
    assert.equal(protocol.toLocalPath("/srv/jbdiff/data/output/j1.wav", share), "/Volumes/gpu/jbdiff/output/j1.wav");
    assert.equal(protocol.toServerPath("/Users/me/a.wav", share), "/Users/me/a.wav");    // not shared: as is
    assert.equal(protocol.toLocalPath("/srv/jbdiff/data2/x.wav", share), "/srv/jbdiff/data2/x.wav");
    const win = { local: "Z:\\jbdiff\\", server: "/home/gpu/jbdiff" };
    assert.equal(protocol.toServerPath("z:\\JBDIFF\\drop\\a.wav", win), "/home/gpu/jbdiff/drop/a.wav");
    assert.equal(protocol.toLocalPath("/home/gpu/jbdiff/output/b.wav", win), "Z:/jbdiff/output/b.wav");
    assert.ok(protocol.isLocalHost("127.0.0.1") && protocol.isLocalHost("localhost"));
    assert.ok(!protocol.isLocalHost("192.168.1.20"));
});

test("clips go into the next free slot only where Live can create audio clips (12.0.5+)", () => {
    const track = { isAudioTrack: true, isFrozen: false, slots: [true, false, true, false], startIndex: 0 };
    assert.equal(protocol.planInsert({ ...track, liveVersion: [11, 3, 25] }).action, "manual");
    assert.equal(protocol.planInsert({ ...track, liveVersion: [12, 0, 4] }).action, "manual");
    assert.deepEqual(protocol.planInsert({ ...track, liveVersion: [12, 0, 5] }), { action: "slot", index: 1 });
    assert.deepEqual(protocol.planInsert({ ...track, liveVersion: [12, 2, 0] }), { action: "slot", index: 1 });
    assert.deepEqual(protocol.planInsert({ ...track, liveVersion: [13, 0, 0], startIndex: 2 }),
                     { action: "slot", index: 3 });
    assert.deepEqual(protocol.planInsert({ ...track, liveVersion: [12, 1, 0], slots: [true, true] }),
                     { action: "new_scene", index: 2 });
    assert.match(protocol.planInsert({ ...track, liveVersion: [12, 1, 0], isAudioTrack: false }).reason, /audio track/);
    assert.match(protocol.planInsert({ ...track, liveVersion: [12, 1, 0], isFrozen: true }).reason, /frozen/);
});

test("recent results: newest first, one per job, bounded", () => {
    let list = [];
    for (let k = 0; k < 12; k++) {
        list = protocol.addRecent(list, { jobId: `j${k}`, path: `/o/j${k}.wav`, seconds: k }, 10);
    }
    assert.equal(list.length, 10);
    assert.equal(list[0].jobId, "j11");
    list = protocol.addRecent(list, { jobId: "j5", path: "/o/j5.wav", seconds: 5 }, 10);
    assert.deepEqual(list.slice(0, 2).map((r) => r.jobId), ["j5", "j11"]);
    assert.equal(list.filter((r) => r.jobId === "j5").length, 1);
    assert.equal(protocol.formatRecent({ jobId: "j1", seconds: 8, path: "/o/j1_take.wav" }), "j1  8 s  j1_take.wav");
});

test("connection state from the last pong", () => {
    assert.equal(protocol.connectionState(1000, null, 0, 5000), "waiting");
    assert.equal(protocol.connectionState(6000, null, 0, 5000), "offline");
    assert.equal(protocol.connectionState(6000, 4000, 0, 5000), "connected");
    assert.equal(protocol.connectionState(9001, 4000, 0, 5000), "offline");
});

test("values from live.* objects are clamped and rounded to the parameter's range", () => {
    assert.equal(protocol.coerceValue("token_multiplier", 3.6), 4);
    assert.equal(protocol.coerceValue("token_multiplier", 99), 32);
    assert.equal(protocol.coerceValue("init_strength", -1), 0);
    assert.equal(protocol.coerceValue("levels", 9), 6);
    assert.equal(protocol.coerceValue("nope", 1), null);
    assert.equal(protocol.coerceValue("seconds", "x"), null);
});

test("Max's [udpsend] gets the address then plain values", () => {
    assert.deepEqual(protocol.toMaxList(protocol.cancel("j9")), ["/jbdiff/cancel", "j9"]);
    assert.deepEqual(protocol.toMaxList(protocol.hello(9131)), ["/jbdiff/hello", 9131]);
});

test("model requests fit the server's table; the menu shows the selection, a file by its name", () => {
    for (const m of [protocol.modelList(), protocol.modelGet(), protocol.modelSet("tiny"),
                     protocol.modelSet("mine.safetensors"), protocol.modelSet("/srv/models/x.yaml")]) {
        accepted(m);
    }
    assert.deepEqual(protocol.toMaxList(protocol.modelSet("my model.safetensors")),
                     ["/jbdiff/model/set", "my model.safetensors"]);
    const names = ["demo", "tiny", "jbdiff-v1", "random-v1", "mine.safetensors"];
    assert.deepEqual(protocol.modelMenu(names, "tiny"), { items: names, values: names, index: 1 });
    // a file comes back as an absolute path: matched by file name, and chosen again by that name
    assert.equal(protocol.modelMenu(names, "/data/models/mine.safetensors").index, 4);
    assert.equal(protocol.modelMenu(names, "C:\\data\\models\\mine.safetensors").index, 4);
    // not selected yet, or nothing listed yet
    assert.deepEqual(protocol.modelMenu(names, ""), { items: names, values: names, index: -1 });
    assert.deepEqual(protocol.modelMenu([], "demo"), { items: ["demo"], values: ["demo"], index: 0 });
    // a selection the list lacks (a configured file elsewhere): shown by name, sent back as stored
    const other = protocol.modelMenu(names, "/srv/other/big.safetensors");
    assert.deepEqual(other.items, [...names, "big.safetensors"]);
    assert.deepEqual(other.values, [...names, "/srv/other/big.safetensors"]);
    assert.equal(other.index, 5);
});

test("a refused model choice reads as a model problem, not a sound-file one", () => {
    const line = (code, message) => protocol.formatError(protocol.parse("/jbdiff/error",
                                                                       ["/jbdiff/model/set", message, code]));
    assert.equal(line("BadRequest", "model: 'nope' is not a known model"),
                 "Error (BadRequest) Model: model: 'nope' is not a known model - unknown model or file");
    assert.match(line("BadPath", "model: 'x.safetensors' does not exist"), /^Error \(BadPath\) Model: .* - unknown model or file$/);
    assert.doesNotMatch(line("BadPath", "m"), /drop folder/);
    assert.match(line("ModelNotLoaded", "m"), / - pick another model or download it$/);
    assert.match(line("InternalError", "m"), / - a server bug/);               // other codes: the usual hint
    const long = line("BadRequest", "allowed: ".repeat(60));
    assert.ok(long.length <= 140 && long.endsWith(" - unknown model or file"), long);
});

test("audio-device requests are ones the server accepts", () => {
    accepted(protocol.preview("j1"));
    accepted(protocol.recordContext(4));
});
