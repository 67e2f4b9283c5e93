// The device's state machine, driven by hand: what it sends, and what it shows.
"use strict";

const test = require("node:test");
const assert = require("node:assert/strict");
const path = require("node:path");
const { DEVICE, protocol, messageProblems, clock, sequence } = require("./helpers");

const { Session } = require(path.join(DEVICE, "jbdiff_session.js"));

function harness(options) {
    const sent = [];
    const shown = [];
    const now = clock(10000);
    const session = new Session({
        send: (m) => sent.push(m), emit: (e) => shown.push(e), now, random: sequence([0.25, 0.5, 0.75]),
        instance: "m4l-test", ...options,
    });
    const last = (kind) => shown.filter((e) => e.kind === kind).slice(-1)[0];
    const addresses = () => sent.map((m) => m.address);
    return { session, sent, shown, now, last, addresses };
}

function args(message) {
    return message.args.map((a) => a.value);
}

test("connecting says hello with the reply port, pings, and turns green on the answer", () => {
    const h = harness();
    h.session.setValue("reply_port", 9999);
    h.sent.length = 0;
    h.session.connect();
    assert.deepEqual(h.addresses(), ["/jbdiff/hello", "/jbdiff/ping"]);
    assert.deepEqual(args(h.sent[0]), [9999]);
    assert.equal(h.last("connection").state, "waiting");
    h.session.receive("/jbdiff/hello/ok", ["0.1.0"]);
    assert.equal(h.last("connection").state, "connected");
    assert.match(h.last("connection").text, /jbdiff 0\.1\.0 at 127\.0\.0\.1:9130/);
    // then asks the server its state, its keys, its models and which one the next jobs use
    assert.deepEqual(h.addresses().slice(-4), ["/jbdiff/status", "/jbdiff/param/list", "/jbdiff/model/list",
                                               "/jbdiff/model/get"]);
    h.session.receive("/jbdiff/status", ["version", "0.1.0", "model", "ready", "model_name", "tiny", "queued", 0]);
    assert.match(h.last("status").text, /model ready \(tiny\)/);
    for (const m of h.sent) {
        assert.deepEqual(messageProblems(m), []);
    }
});

test("while the server's model loads, the status is asked again with each ping", () => {
    const h = harness();
    h.session.connect();
    h.session.receive("/jbdiff/hello/ok", ["0.1.0"]);
    h.session.receive("/jbdiff/status", ["version", "0.1.0", "model", "loading", "queued", 0]);
    assert.match(h.last("status").text, /model loading/);
    h.sent.length = 0;
    h.now.advance(2000);
    h.session.tick();
    assert.deepEqual(h.addresses(), ["/jbdiff/ping", "/jbdiff/status"]);
    h.session.receive("/jbdiff/status", ["version", "0.1.0", "model", "ready", "queued", 0]);
    h.sent.length = 0;
    h.now.advance(2000);
    h.session.tick();
    assert.deepEqual(h.addresses(), ["/jbdiff/ping"]);
});

const NAMES = ["demo", "tiny", "jbdiff-v1", "random-v1", "mine.safetensors"];

// A session connected to a server that listed NAMES and has `selected` for the next jobs.
function withModels(selected) {
    const h = harness();
    h.session.connect();
    h.session.receive("/jbdiff/hello/ok", ["0.1.0"]);
    h.session.receive("/jbdiff/model/list", NAMES);
    h.session.receive("/jbdiff/model/get", [selected, "demo"]);
    h.sent.length = 0;
    return h;
}

test("the model menu fills from the server's list and shows its selection (files by name)", () => {
    const h = harness();
    h.session.connect();
    h.session.receive("/jbdiff/hello/ok", ["0.1.0"]);
    h.session.receive("/jbdiff/model/list", NAMES);
    assert.deepEqual(h.last("models"), { kind: "models", items: NAMES, index: -1 });   // selection not known yet
    h.session.receive("/jbdiff/model/get", ["tiny", "demo"]);
    assert.deepEqual(h.last("models"), { kind: "models", items: NAMES, index: 1 });
    assert.equal(h.session.models.configured, "demo");
    const count = h.shown.filter((e) => e.kind === "models").length;
    h.session.receive("/jbdiff/model/get", ["tiny", "demo"]);                        // unchanged: not redrawn
    assert.equal(h.shown.filter((e) => e.kind === "models").length, count);
    h.session.receive("/jbdiff/model/get", ["/data/jbdiff/models/mine.safetensors", "demo"]);
    assert.equal(h.last("models").index, 4);
    // another client chose a model: the status that comes with each connect says so
    h.session.receive("/jbdiff/status", ["version", "0.1.0", "model", "ready", "model_name", "jbdiff-v1", "queued", 0]);
    assert.equal(h.last("models").index, 2);
    // a list that changed (a new file in the models folder) keeps the selection in view
    h.session.receive("/jbdiff/model/list", ["aaa.yaml", ...NAMES]);
    assert.deepEqual(h.last("models"), { kind: "models", items: ["aaa.yaml", ...NAMES], index: 3 });
});

test("picking a model sends its name; the reply moves the menu and says which one", () => {
    const h = withModels("demo");
    const message = h.session.chooseModel(1);
    assert.deepEqual(h.sent, [message]);
    assert.equal(message.address, "/jbdiff/model/set");
    assert.deepEqual(args(message), ["tiny"]);
    assert.deepEqual(messageProblems(message), []);
    assert.equal(h.last("status").text, "Selecting model tiny ...");
    h.session.receive("/jbdiff/model/set", ["tiny"]);
    assert.equal(h.last("models").index, 1);
    assert.equal(h.last("status").text, "Model for the next jobs: tiny");
    // a file is sent by its listed name; the server answers with the absolute path
    h.session.chooseModel(4);
    assert.deepEqual(args(h.sent.slice(-1)[0]), ["mine.safetensors"]);
    h.session.receive("/jbdiff/model/set", ["/data/jbdiff/models/mine.safetensors"]);
    assert.equal(h.last("models").index, 4);
    assert.equal(h.last("status").text, "Model for the next jobs: mine.safetensors");
    // the current one again is sent too (the server's way to retry a model that failed to load)
    h.sent.length = 0;
    h.session.chooseModel(4);
    assert.deepEqual(h.sent.map(args), [["mine.safetensors"]]);
    // outside the menu: nothing
    h.sent.length = 0;
    assert.equal(h.session.chooseModel(9), null);
    assert.equal(h.session.chooseModel(-1), null);
    assert.deepEqual(h.sent, []);
});

test("a selection the list lacks is shown by name and sent back as the server stored it", () => {
    const h = withModels("/srv/elsewhere/big.safetensors");
    assert.deepEqual(h.last("models").items, [...NAMES, "big.safetensors"]);
    assert.equal(h.last("models").index, 5);
    h.session.chooseModel(5);
    assert.deepEqual(args(h.sent[0]), ["/srv/elsewhere/big.safetensors"]);
});

test("a refused model choice is shown with a hint, and the menu goes back to the model in use", () => {
    const h = withModels("demo");
    const before = h.shown.filter((e) => e.kind === "models").length;
    h.session.selectModel("nope");
    h.session.receive("/jbdiff/error", ["/jbdiff/model/set", "model: 'nope' is not a known model", "BadRequest"]);
    assert.equal(h.last("status").text,
                 "Error (BadRequest) Model: model: 'nope' is not a known model - unknown model or file");
    assert.equal(h.shown.filter((e) => e.kind === "models").length, before + 1);     // redrawn
    assert.deepEqual(h.last("models"), { kind: "models", items: NAMES, index: 0 });
    h.session.receive("/jbdiff/error", ["/jbdiff/model/set", "model: 'gone.safetensors' does not exist", "BadPath"]);
    assert.match(h.last("status").text, /^Error \(BadPath\) Model: .* - unknown model or file$/);
    h.session.receive("/jbdiff/error", ["/jbdiff/model/set", "cannot load", "ModelNotLoaded"]);
    assert.match(h.last("status").text, / - pick another model or download it$/);
    // a generate refused for want of a model points at the menu too; no pending model request is touched
    h.session.generate();
    h.session.receive("/jbdiff/error", ["/jbdiff/generate", "no worker could load demo", "ModelNotLoaded"]);
    assert.match(h.last("status").text, /^Error \(ModelNotLoaded\) Generate: .* - pick another Model/);
    assert.equal(h.session.pending.length, 0);
});

test("a server that lacks a key the device sends is named on the status line", () => {
    const h = harness();
    const names = protocol.GENERATE_KEYS.concat(["bars", "bpm"]);
    h.session.receive("/jbdiff/param/list", names);
    assert.equal(h.last("status"), undefined);
    h.session.receive("/jbdiff/param/list", names.filter((n) => n !== "quality" && n !== "steps_dd"));
    assert.match(h.last("status").text, /does not know quality, steps_dd: update jbdiff on the server/);
});

test("a server that stops answering turns the indicator red, and hello is repeated until it is back", () => {
    const h = harness();
    h.session.connect();
    h.session.receive("/jbdiff/pong", ["0.1.0"]);
    assert.equal(h.last("connection").state, "connected");
    for (let k = 0; k < 8; k++) {
        h.now.advance(1000);
        h.session.tick();
    }
    assert.equal(h.last("connection").state, "offline");
    assert.match(h.last("connection").text, /No answer from 127\.0\.0\.1:9130/);
    h.sent.length = 0;
    h.now.advance(2000);
    h.session.tick();
    assert.deepEqual(h.addresses(), ["/jbdiff/hello", "/jbdiff/ping"]);
    h.session.receive("/jbdiff/pong", ["0.1.0"]);
    assert.equal(h.last("connection").state, "connected");
});

test("Generate -> accepted -> progress -> done: progress rises, the result lands in the recents", () => {
    const h = harness();
    h.session.setTrackName("Drums");
    h.session.setValue("steps_2", 3);
    const message = h.session.generate();
    assert.deepEqual(messageProblems(message), []);
    const tag = message.args.find((a, k) => k > 0 && message.args[k - 1].value === "tag").value;
    assert.equal(tag, "m4l-test-1");
    assert.deepEqual(h.last("seeds"), { kind: "seeds", noise: Math.floor(0.25 * 16777216), dd: Math.floor(0.5 * 16777216) });
    h.session.receive("/jbdiff/job/accepted", ["j1", tag]);
    assert.match(h.last("status").text, /Queued as j1/);
    h.session.receive("/jbdiff/job/started", ["j1"]);
    for (const [stage, f] of [["level2", 0.2], ["level1", 0.5], ["level1", 0.4], ["dd", 0.9]]) {
        h.session.receive("/jbdiff/job/progress", ["j1", stage, f]);
    }
    const fractions = h.shown.filter((e) => e.kind === "progress").map((e) => e.fraction);
    assert.deepEqual(fractions, [0, 0.2, 0.5, 0.5, 0.9]);                        // never backwards
    assert.match(h.last("status").text, /Rendering stereo \(Dance Diffusion\) - 90%/);
    h.session.receive("/jbdiff/job/done", ["j1", "/data/output/j1_Drums.wav", 8]);
    assert.equal(h.last("progress").fraction, 1);
    assert.deepEqual(h.last("recents").items, ["j1  8 s  j1_Drums.wav"]);
    const result = h.last("result");
    assert.equal(result.item.localPath, "/data/output/j1_Drums.wav");
    assert.equal(result.insert, true);
    assert.equal(h.last("busy").jobs, 0);
    h.session.receive("/jbdiff/job/done", ["j1", "/data/output/j1_Drums.wav", 8]);   // once only
    assert.equal(h.shown.filter((e) => e.kind === "result").length, 1);
});

test("another client's jobs do not move this device's progress or results", () => {
    const h = harness();
    h.session.generate();
    h.session.receive("/jbdiff/job/accepted", ["j7", "someone-else-3"]);
    h.session.receive("/jbdiff/job/progress", ["j7", "level2", 0.5]);
    h.session.receive("/jbdiff/job/done", ["j7", "/o/j7.wav", 4]);
    assert.equal(h.shown.filter((e) => e.kind === "result").length, 0);
    assert.deepEqual(h.shown.filter((e) => e.kind === "progress").map((e) => e.fraction), [0]);
    assert.equal(h.session.pending.length, 1);
});

test("Cancel before the job id arrives cancels it as soon as it does", () => {
    const h = harness();
    h.session.generate();
    h.session.setValue("cancel", 1);
    assert.match(h.last("status").text, /Cancelling 1 job/);
    h.session.receive("/jbdiff/job/accepted", ["j2", "m4l-test-1"]);
    assert.deepEqual(args(h.sent.slice(-1)[0]), ["j2"]);
    assert.equal(h.sent.slice(-1)[0].address, "/jbdiff/cancel");
    h.session.receive("/jbdiff/job/cancelled", ["j2"]);
    assert.match(h.last("status").text, /Cancelled j2/);
    h.sent.length = 0;
    h.session.cancel();
    assert.deepEqual(h.sent, []);
    assert.equal(h.last("status").text, "Nothing to cancel");
});

test("a refused generate is shown with the server's reason and leaves nothing pending", () => {
    const h = harness();
    h.session.generate();
    h.session.receive("/jbdiff/error", ["/jbdiff/generate", "context: 'x' does not exist", "BadPath"]);
    assert.equal(h.session.pending.length, 0);
    assert.match(h.last("status").text, /^Error \(BadPath\) Generate: context: 'x' does not exist - put the file/);
    h.session.receive("/jbdiff/job/failed", ["j3", "nope"]);                   // not ours: ignored
    assert.match(h.last("status").text, /BadPath/);
});

test("a failed job resets the progress bar and says why", () => {
    const h = harness();
    h.session.generate();
    h.session.receive("/jbdiff/job/accepted", ["j4", "m4l-test-1"]);
    h.session.receive("/jbdiff/job/failed", ["j4", "out of memory"]);
    assert.equal(h.last("progress").fraction, 0);
    assert.equal(h.last("status").text, "Failed j4: out of memory");
});

test("a length the server would refuse is stopped on the device", () => {
    const h = harness();
    h.session.setSong(20, 4, 4);
    h.session.setValue("length_mode", 1);
    h.session.setValue("bars", 64);
    assert.match(h.last("length").text, /allowed: 0\.5 \.\. 600 s/);
    assert.equal(h.session.generate(), null);
    assert.deepEqual(h.sent, []);
    assert.match(h.last("status").text, /^Not sent: 64 bars = 768 s/);
});

test("moving a running-scope knob while rendering reaches the job; other knobs wait", () => {
    const h = harness();
    h.session.setValue("noise_step_size", 0.3);                               // idle: nothing sent
    assert.deepEqual(h.sent, []);
    h.session.generate();
    h.session.receive("/jbdiff/job/accepted", ["j5", "m4l-test-1"]);
    h.sent.length = 0;
    h.session.setValue("noise_step_size", 0.8);
    h.session.setValue("token_multiplier", 4);
    h.session.setValue("embedding_auto", 0);
    assert.deepEqual(h.sent.map(args), [["noise_step_size", 0.8], ["embedding_strength", 4]]);
    for (const m of h.sent) {
        assert.deepEqual(messageProblems(m), []);
    }
    assert.deepEqual(h.last("embedding_active"), { kind: "embedding_active", on: true });
});

test("locking keeps the seeds of the last result; locked seeds are sent as they are", () => {
    const h = harness();
    h.session.generate();
    const heard = h.last("seeds");
    h.session.setValue("lock_seeds", 1);
    assert.deepEqual(h.last("lock_seeds"), { kind: "lock_seeds", noise: heard.noise, dd: heard.dd });
    const again = h.session.generate();
    const p = {};
    for (let k = 0; k < again.args.length; k += 2) {
        p[again.args[k].value] = again.args[k + 1].value;
    }
    assert.equal(p.noise_seed, heard.noise);
    assert.equal(p.dd_noise_seed, heard.dd);
});

test("Generate and Cancel are momentary: every press counts", () => {
    const h = harness();
    h.session.setValue("generate", 1);
    h.session.setValue("generate", 1);
    h.session.setValue("generate", 0);
    assert.equal(h.sent.filter((m) => m.address === "/jbdiff/generate").length, 2);
});

test("files: shared-folder paths are translated both ways; a remote server without one gets a warning", () => {
    const h = harness();
    h.session.setHost("192.168.1.20");
    assert.equal(h.last("endpoint").host, "192.168.1.20");
    h.session.setFile("context", "/Users/me/loop.wav");
    assert.match(h.last("status").text, /must be in its shared drop folder/);
    h.session.setShare("/Volumes/gpu", "/srv/jbdiff");
    h.session.setFile("context", "/Volumes/gpu/drop/loop.wav");
    assert.deepEqual(h.last("files"), { kind: "files", context: "/Volumes/gpu/drop/loop.wav", init: "" });
    const m = h.session.generate();
    const p = {};
    for (let k = 0; k < m.args.length; k += 2) {
        p[m.args[k].value] = m.args[k + 1].value;
    }
    assert.equal(p.context, "/srv/jbdiff/drop/loop.wav");
    h.session.receive("/jbdiff/job/accepted", ["j6", "m4l-test-1"]);
    h.session.receive("/jbdiff/job/done", ["j6", "/srv/jbdiff/output/j6.wav", 2]);
    assert.equal(h.last("result").item.localPath, "/Volumes/gpu/output/j6.wav");
});

test("changing a port reconnects on the new one", () => {
    const h = harness();
    h.session.setValue("port", 9200);
    assert.deepEqual(h.last("endpoint"), { kind: "endpoint", host: "127.0.0.1", port: 9200, replyPort: 9131 });
    assert.deepEqual(h.addresses(), ["/jbdiff/hello", "/jbdiff/ping"]);
});

test("the insertion outcome is reported", () => {
    const h = harness();
    const item = { jobId: "j1", path: "/o/j1.wav", localPath: "/o/j1.wav", seconds: 2 };
    h.session.inserted(item, { action: "slot", index: 2 });
    assert.equal(h.last("status").text, "Inserted j1.wav in clip slot 3");
    h.session.inserted(item, { action: "manual", reason: "this is not an audio track" });
    assert.match(h.last("status").text, /Drag it in .*\/o\/j1\.wav \(this is not an audio track\)/);
});

test("malformed replies are shown, unknown ones ignored", () => {
    const h = harness();
    h.session.receive("/jbdiff/job/done", ["j1"]);
    assert.match(h.last("status").text, /Unreadable message from the server \(\/jbdiff\/job\/done\)/);
    const before = h.shown.length;
    h.session.receive("/somewhere/else", []);
    assert.equal(h.shown.length, before);
    assert.equal(protocol.parse("/somewhere/else", []).kind, "unknown");
});
