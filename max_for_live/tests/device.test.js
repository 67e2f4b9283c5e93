// The Max glue (jbdiff_device.js) in a stand-in for Max's [js]: outlets, named objects, the Live API.
"use strict";

const test = require("node:test");
const assert = require("node:assert/strict");
const fs = require("node:fs");
const path = require("node:path");
const vm = require("node:vm");
const { DEVICE, protocol } = require("./helpers");

const SOURCE = fs.readFileSync(path.join(DEVICE, "jbdiff_device.js"), "utf8");

// A Live set with one audio track holding this device; `live` overrides any of it.
function fakeLive(live) {
    return {
        version: [12, 1, 0], tempo: 120, numerator: 4, denominator: 4, trackName: "Drums",
        audioTrack: true, frozen: false, slots: [true, false, false], clip: null, created: [], ...live,
    };
}

function fakeMax(liveOptions) {
    const live = fakeLive(liveOptions);
    const out = [];
    const ui = [];
    const launched = [];
    const objects = {};
    for (const spec of protocol.PARAMS) {
        objects[spec.name] = { value: spec.initial };
    }
    function named(name) {
        const obj = objects[name] || (objects[name] = {});
        obj.message = (...args) => ui.push([name, ...args]);
        obj.getvalueof = () => obj.value;
        return obj;
    }
    class LiveAPI {
        constructor(callback, p) {
            this.callback = callback;
            this.path = p;
            this.unquotedpath = p === "this_device canonical_parent" ? "live_set tracks 0" : p;
            const slot = /^live_set tracks 0 clip_slots (\d+)$/.exec(p);
            this.slot = slot ? Number(slot[1]) : null;
            this.id = p === "live_set view detail_clip" ? (live.clip ? "7" : "0") : "1";
        }
        set property(name) {
            this.callback([name, this.get(name)[0]]);
        }
        get(prop) {
            if (this.slot !== null && prop === "has_clip") {
                return [live.slots[this.slot] ? 1 : 0];
            }
            const clip = live.clip || {};
            const table = {
                tempo: [live.tempo], signature_numerator: [live.numerator], signature_denominator: [live.denominator],
                name: [live.trackName], has_audio_input: [live.audioTrack ? 1 : 0], is_frozen: [live.frozen ? 1 : 0],
                is_audio_clip: [clip.audio ? 1 : 0], file_path: clip.path ? clip.path.split(" ") : [],
            };
            return table[prop];
        }
        getcount(prop) {
            assert.equal(prop, "clip_slots");
            return live.slots.length;
        }
        call(fn, ...args) {
            const versions = { get_major_version: 0, get_minor_version: 1, get_bugfix_version: 2 };
            if (fn in versions) {
                return live.version[versions[fn]];
            }
            if (fn === "create_scene") {
                live.slots.push(false);
                return undefined;
            }
            if (fn === "create_audio_clip" && this.slot !== null) {
                if (protocol.canCreateAudioClip(live.version) && !live.slots[this.slot]) {
                    live.slots[this.slot] = true;
                    live.created.push([this.slot, args[0]]);
                }
                return undefined;
            }
            throw new Error(`unexpected Live API call ${this.path} ${fn}`);
        }
    }
    const context = {
        outlet: (n, ...args) => out.push([n, ...args.flat()]),
        post: () => {},
        arrayfromargs: (args) => Array.prototype.slice.call(args),
        messagename: "",
        patcher: { getnamed: named },
        LiveAPI,
        max: { launchbrowser: (url) => launched.push(url) },
        require: (name) => require(path.join(DEVICE, `${name}.js`)),
    };
    vm.createContext(context);
    vm.runInContext(SOURCE, context, { filename: "jbdiff_device.js" });
    const osc = (address, ...args) => {
        context.messagename = address;
        context.anything(...args);
    };
    const sentOsc = () => out.filter((o) => o[0] === 0 && String(o[1]).startsWith("/")).map((o) => o.slice(1));
    const shown = (name) => ui.filter((u) => u[0] === name).map((u) => u.slice(1));
    const lastShown = (name) => shown(name).slice(-1)[0];
    return { context, live, out, ui, objects, osc, sentOsc, shown, lastShown, launched };
}

function generateArgs(list) {
    const p = {};
    for (let k = 1; k < list.length; k += 2) {
        p[list[k]] = list[k + 1];
    }
    return p;
}

test("init reads the knobs and Live's tempo, points the UDP objects at the server, says hello", () => {
    const m = fakeMax({ tempo: 90, numerator: 3 });
    m.objects.seconds.value = 8;
    m.objects.length_mode.value = 1;
    m.objects.bars.value = 2;
    m.context.init();
    assert.deepEqual(m.out.filter((o) => !String(o[1]).startsWith("/")),
                     [[0, "host", "127.0.0.1"], [0, "port", 9130], [1, "port", 9131]]);
    assert.deepEqual(m.sentOsc(), [["/jbdiff/hello", 9131], ["/jbdiff/ping"]]);
    assert.deepEqual(m.lastShown("length_display"), ["set", "2 bars = 4 s at 90 BPM 3/4"]);
    assert.deepEqual(m.lastShown("connection_led").slice(0, 1), ["bgfillcolor"]);
    m.context.generate();
    const p = generateArgs(m.sentOsc().slice(-1)[0]);
    assert.equal(p.seconds, 4);                                   // 2 bars of 3/4 at 90 BPM
    assert.equal(p.name, "Drums");
});

test("a job from Generate to a clip in the next free slot (Live 12.1)", () => {
    const m = fakeMax();
    m.context.init();
    m.osc("/jbdiff/hello/ok", "0.1.0");
    assert.deepEqual(m.lastShown("connection_text"), ["set", "jbdiff 0.1.0 at 127.0.0.1:9130"]);
    m.context.generate();
    const tag = generateArgs(m.sentOsc().slice(-1)[0]).tag;
    m.osc("/jbdiff/job/accepted", "j1", tag);
    m.osc("/jbdiff/job/progress", "j1", "level2", 0.5);
    assert.deepEqual(m.lastShown("progress_bar"), ["set", 0.5]);
    m.osc("/jbdiff/job/done", "j1", "/data/output/j1_Drums.wav", 12);
    assert.deepEqual(m.live.created, [[1, "/data/output/j1_Drums.wav"]]);
    assert.deepEqual(m.lastShown("status_line"), ["set", "Inserted j1_Drums.wav in clip slot 2"]);
    assert.deepEqual(m.shown("recent_menu").slice(-2), [["clear"], ["append", "j1  12 s  j1_Drums.wav"]]);
    assert.deepEqual(m.lastShown("recents_store"), ["j1", "/data/output/j1_Drums.wav", "/data/output/j1_Drums.wav", 12]);
    assert.deepEqual(m.lastShown("result_path"), ["set", "/data/output/j1_Drums.wav"]);
});

test("a full track gets a new scene; Live 11, a MIDI track or Auto Insert off leave the path to drag", () => {
    const full = fakeMax({ slots: [true, true] });
    full.context.init();
    full.context.generate();
    full.osc("/jbdiff/job/accepted", "j1", generateArgs(full.sentOsc().slice(-1)[0]).tag);
    full.osc("/jbdiff/job/done", "j1", "/o/j1.wav", 2);
    assert.deepEqual(full.live.created, [[2, "/o/j1.wav"]]);

    for (const [live, reason] of [[{ version: [11, 3, 25] }, /cannot create audio clips/],
                                  [{ audioTrack: false }, /not an audio track/]]) {
        const m = fakeMax(live);
        m.context.init();
        m.context.generate();
        m.osc("/jbdiff/job/accepted", "j2", generateArgs(m.sentOsc().slice(-1)[0]).tag);
        m.osc("/jbdiff/job/done", "j2", "/o/j2.wav", 2);
        assert.deepEqual(m.live.created, []);
        assert.match(m.lastShown("status_line")[1], reason);
        assert.match(m.lastShown("status_line")[1], /Drag it in from the results list: \/o\/j2\.wav/);
    }

    const off = fakeMax();
    off.objects.auto_insert.value = 0;
    off.context.init();
    off.context.generate();
    off.osc("/jbdiff/job/accepted", "j3", generateArgs(off.sentOsc().slice(-1)[0]).tag);
    off.osc("/jbdiff/job/done", "j3", "/o/j3.wav", 2);
    assert.deepEqual(off.live.created, []);
    off.context.insert();                                          // the Insert button does it later
    assert.deepEqual(off.live.created, [[1, "/o/j3.wav"]]);
    off.context.reveal();
    assert.deepEqual(off.launched, ["file:///o/"]);
});

test("the selected clip's file becomes the context; MIDI clips and no selection are explained", () => {
    const m = fakeMax({ clip: { audio: true, path: "/Users/me/Music/my loop.wav" } });
    m.context.init();
    m.context.use_clip("context");
    assert.deepEqual(m.lastShown("context_label"), ["set", "my loop.wav"]);
    assert.deepEqual(m.lastShown("files_store"), ["/Users/me/Music/my loop.wav", "<none>"]);
    m.context.generate();
    assert.equal(generateArgs(m.sentOsc().slice(-1)[0]).context, "/Users/me/Music/my loop.wav");
    m.context.clear("context");
    assert.deepEqual(m.lastShown("context_label"), ["set", "no context"]);

    const midi = fakeMax({ clip: { audio: false } });
    midi.context.init();
    midi.context.use_clip("init");
    assert.match(midi.lastShown("status_line")[1], /MIDI clip/);
    const none = fakeMax();
    none.context.init();
    none.context.use_clip("init");
    assert.match(none.lastShown("status_line")[1], /Select an audio clip/);
});

test("a dropped file arrives in Max's path form and is sent as the system's path", () => {
    const m = fakeMax();
    m.context.init();
    m.context.drop_init("Macintosh HD:/Users/me/take 2.wav");
    m.context.generate();
    assert.equal(generateArgs(m.sentOsc().slice(-1)[0]).init, "/Users/me/take 2.wav");
});

test("settings stored with the Live set come back: host, shared folder, files, recent results", () => {
    const m = fakeMax();
    m.context.init();
    m.context.restore_connection("192.168.1.20", "/Volumes/gpu", "/srv/jbdiff");
    assert.deepEqual(m.out.filter((o) => o[1] === "host").slice(-1)[0], [0, "host", "192.168.1.20"]);
    assert.deepEqual(m.lastShown("host_edit"), ["set", "192.168.1.20"]);
    assert.deepEqual(m.lastShown("share_server_edit"), ["set", "/srv/jbdiff"]);
    const storesBefore = m.shown("connection_store").length;
    m.context.host("text", "192.168.1.20");                       // unchanged: nothing stored again
    assert.equal(m.shown("connection_store").length, storesBefore);
    m.context.restore_files("/Volumes/gpu/drop/a.wav", "<none>");
    assert.deepEqual(m.lastShown("context_label"), ["set", "a.wav"]);
    m.context.restore_recents("j1", "/srv/jbdiff/output/j1.wav", "/Volumes/gpu/output/j1.wav", 4);
    assert.deepEqual(m.shown("recent_menu").slice(-2), [["clear"], ["append", "j1  4 s  j1.wav"]]);
    m.context.recent(0);
    assert.deepEqual(m.lastShown("result_path"), ["set", "/Volumes/gpu/output/j1.wav"]);
    m.context.generate();
    assert.equal(generateArgs(m.sentOsc().slice(-1)[0]).context, "/srv/jbdiff/drop/a.wav");
});

test("knob changes arrive as param messages; ticks ping no faster than the interval", () => {
    const m = fakeMax();
    m.context.init();
    m.context.param("token_multiplier", 5);
    m.context.param("lock_seeds", 1);
    m.context.param("noise_seed", 1234);
    m.context.generate();
    const p = generateArgs(m.sentOsc().slice(-1)[0]);
    assert.equal(p.token_multiplier, 5);
    assert.equal(p.noise_seed, 1234);
    const before = m.sentOsc().length;
    m.context.tick();                          // within the ping interval of connecting: nothing to send
    assert.equal(m.sentOsc().length, before);
    m.context.cancel();
    assert.match(m.lastShown("status_line")[1], /Cancelling 1 job/);
});

test("the model menu: filled from the server after hello, the current one set quietly, a pick sent by name", () => {
    const m = fakeMax();
    m.context.init();
    m.osc("/jbdiff/hello/ok", "0.1.0");
    assert.deepEqual(m.sentOsc().slice(-2), [["/jbdiff/model/list"], ["/jbdiff/model/get"]]);
    m.osc("/jbdiff/model/list", "demo", "tiny", "jbdiff-v1", "random-v1", "my take.safetensors");
    m.osc("/jbdiff/model/get", "/data/models/my take.safetensors", "demo");
    const menu = m.shown("model_menu");
    assert.deepEqual(menu.slice(-7), [["clear"], ["append", "demo"], ["append", "tiny"], ["append", "jbdiff-v1"],
                                      ["append", "random-v1"], ["append", "my take.safetensors"], ["set", 4]]);
    m.context.model(1);                                             // the umenu's left outlet: the index
    assert.deepEqual(m.sentOsc().slice(-1)[0], ["/jbdiff/model/set", "tiny"]);
    m.osc("/jbdiff/model/set", "tiny");
    assert.deepEqual(m.lastShown("model_menu"), ["set", 1]);
    assert.deepEqual(m.lastShown("status_line"), ["set", "Model for the next jobs: tiny"]);
    m.context.model(0);
    m.osc("/jbdiff/error", "/jbdiff/model/set", "model: 'demo' cannot load", "ModelNotLoaded");
    assert.match(m.lastShown("status_line")[1], /^Error \(ModelNotLoaded\) Model: .* - pick another model or download it$/);
    assert.deepEqual(m.lastShown("model_menu"), ["set", 1]);        // back to the model still in use
});
