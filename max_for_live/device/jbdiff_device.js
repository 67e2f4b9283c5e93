// Max glue of the jbdiff device: wires [udpsend]/[udpreceive], the live.* objects and the
// Live API to a jbdiff_session.Session. Everything that decides something lives in
// jbdiff_session.js and jbdiff_protocol.js (tested under Node); this file only moves
// values between Max, Live and the session. ES5 only (Max's [js] runs JavaScript 1.8.5).
//
// Inlet 0: OSC from [udpreceive] (selector = the OSC address) and messages from the UI:
//   param <name> <value>, generate, cancel, tick, init, host <text>, share_local <text>,
//   share_server <text>, drop_context <path>, drop_init <path>, use_clip context|init,
//   clear context|init, recent <index>, model <index>, insert, reveal, restore_* <stored list>.
// Outlet 0: to [udpsend] (OSC messages, and "host" / "port" when the server moves).
// Outlet 1: to [udpreceive] ("port" when the reply port changes).

autowatch = 0;
inlets = 1;
outlets = 2;

var protocol = require("jbdiff_protocol");
var sessionModule = require("jbdiff_session");

var NONE = "<none>";                 // an empty entry in a stored [pattr] list
var LED = {
    connected: [0.33, 0.78, 0.36, 1.0],
    waiting: [0.95, 0.72, 0.2, 1.0],
    offline: [0.86, 0.25, 0.22, 1.0]
};

var session = new sessionModule.Session({ send: sendOsc, emit: show });
var observers = [];
var selectedRecent = -1;
var stored = { connection: "", files: "", recents: "" };

function sendOsc(message) {
    outlet(0, protocol.toMaxList(message));
}

function ui(name) {
    var obj = this.patcher.getnamed(name);
    if (!obj) {
        post("jbdiff: no object named " + name + " in the patch\n");
        return;
    }
    obj.message.apply(obj, Array.prototype.slice.call(arguments, 1));
}

// Session events -> the patch's display objects.
function show(ev) {
    switch (ev.kind) {
    case "status":
        ui("status_line", "set", ev.text);
        break;
    case "progress":
        ui("progress_bar", "set", ev.fraction);
        break;
    case "connection":
        var c = LED[ev.state] || LED.offline;
        ui("connection_led", "bgfillcolor", c[0], c[1], c[2], c[3]);
        ui("connection_text", "set", ev.text);
        break;
    case "length":
        ui("length_display", "set", ev.text);
        break;
    case "seeds":
        ui("last_seeds", "set", "Last seeds " + ev.noise + " / " + ev.dd);
        break;
    case "lock_seeds":
        ui("noise_seed", "set", ev.noise);
        ui("dd_noise_seed", "set", ev.dd);
        break;
    case "embedding_active":
        ui("embedding_strength", "active", ev.on ? 1 : 0);
        break;
    case "files":
        ui("context_label", "set", ev.context ? protocol.baseName(ev.context) : "no context");
        ui("init_label", "set", ev.init ? protocol.baseName(ev.init) : "no init");
        save("files", [ev.context || NONE, ev.init || NONE]);
        break;
    case "endpoint":
        outlet(0, "host", ev.host);
        outlet(0, "port", ev.port);
        outlet(1, "port", ev.replyPort);
        break;
    case "recents":
        ui("recent_menu", "clear");
        for (var k = 0; k < ev.items.length; k++) {
            ui("recent_menu", "append", ev.items[k]);
        }
        saveRecents();
        break;
    case "models":
        ui("model_menu", "clear");
        for (var m = 0; m < ev.items.length; m++) {
            ui("model_menu", "append", ev.items[m]);
        }
        if (ev.index >= 0) {
            ui("model_menu", "set", ev.index);           // "set": shows it without sending it back
        }
        break;
    case "result":
        ui("result_path", "set", ev.item.localPath);
        selectedRecent = 0;
        if (ev.insert) {
            insertItem(ev.item);
        }
        break;
    default:
        break;
    }
}

// ------------------------------------------------------------------------ Max messages

// Called by [live.thisdevice] once the device is in Live (the Live API works from here on).
function init() {
    for (var k = 0; k < protocol.PARAMS.length; k++) {
        var spec = protocol.PARAMS[k];
        var obj = this.patcher.getnamed(spec.name);
        if (obj && spec.type !== "button") {
            session.setValue(spec.name, obj.getvalueof());
        }
    }
    observeSong();
    onSong();                                          // in case observing does not report at once
    var track = new LiveAPI(null, "this_device canonical_parent");
    session.setTrackName(joined(track.get("name")));
    show({ kind: "endpoint", host: session.host, port: session.values.port,
           replyPort: session.values.reply_port });
    session.emitLength();
    session.connect();
}

function observeSong() {
    var names = ["tempo", "signature_numerator", "signature_denominator"];
    observers = [];
    for (var k = 0; k < names.length; k++) {
        var api = new LiveAPI(onSong, "live_set");
        api.property = names[k];
        observers.push(api);
    }
}

function onSong() {
    var song = new LiveAPI(null, "live_set");
    session.setSong(song.get("tempo")[0], song.get("signature_numerator")[0],
                    song.get("signature_denominator")[0]);
}

function param(name, value) {
    session.setValue(name, value);
}

function generate() {
    session.generate();
}

function cancel() {
    session.cancel();
}

function tick() {
    session.tick();
}

function text() {
    return arrayfromargs(arguments).join(" ").replace(/^text /, "");
}

function host() {
    session.setHost(text.apply(this, arguments));
    save("connection", [session.host, session.share.local || NONE, session.share.server || NONE]);
}

function share_local() {
    session.setShare(text.apply(this, arguments), session.share.server);
    save("connection", [session.host, session.share.local || NONE, session.share.server || NONE]);
}

function share_server() {
    session.setShare(session.share.local, text.apply(this, arguments));
    save("connection", [session.host, session.share.local || NONE, session.share.server || NONE]);
}

function drop_context() {
    session.setFile("context", protocol.nativePath(text.apply(this, arguments)));
}

function drop_init() {
    session.setFile("init", protocol.nativePath(text.apply(this, arguments)));
}

function clear(which) {
    session.setFile(which, "");
}

// The clip selected in Live (Clip View) as context or init.
function use_clip(which) {
    var clip = new LiveAPI(null, "live_set view detail_clip");
    if (!clip.id || Number(clip.id) === 0) {
        session.status("Select an audio clip in Live first (it opens in Clip View)");
        return;
    }
    if (Number(clip.get("is_audio_clip")[0]) !== 1) {
        session.status("The selected clip is a MIDI clip: select an audio clip");
        return;
    }
    var path = joined(clip.get("file_path"));
    if (!path) {
        session.status("The selected clip has no file on disk (record or consolidate it first)");
        return;
    }
    session.setFile(which, path);
}

function recent(index) {
    selectedRecent = Number(index);
    var item = session.recent(selectedRecent);
    if (item) {
        ui("result_path", "set", item.localPath);
    }
}

// The model menu (a plain umenu: the names come from the server, which remembers the choice).
function model(index) {
    session.chooseModel(Number(index));
}

function insert() {
    var item = session.recent(selectedRecent < 0 ? 0 : selectedRecent);
    if (item) {
        insertItem(item);
    } else {
        session.status("No result yet");
    }
}

// Open the folder that holds the selected result (Finder / Explorer).
function reveal() {
    var item = session.recent(selectedRecent < 0 ? 0 : selectedRecent);
    if (item) {
        var path = item.localPath;
        max.launchbrowser("file://" + (path.charAt(0) === "/" ? "" : "/") +
                          path.substring(0, path.lastIndexOf("/") + 1));
    }
}

// ------------------------------------------------------------------ stored with the set

function save(which, list) {
    var key = list.join("\n");
    if (stored[which] === key) {
        return;
    }
    stored[which] = key;
    ui.apply(this, [which + "_store"].concat(list));    // [pattr] keeps any message
}

function saveRecents() {
    var list = [];
    for (var k = 0; k < session.recents.length; k++) {
        var r = session.recents[k];
        list.push(r.jobId, r.path, r.localPath, r.seconds);
    }
    save("recents", list.length ? list : [NONE]);
}

function value(v) {
    return v === NONE || v === undefined ? "" : String(v);
}

function restore_connection() {
    var a = arrayfromargs(arguments);
    stored.connection = a.join("\n");
    session.setShare(value(a[1]), value(a[2]));
    ui("share_local_edit", "set", value(a[1]));
    ui("share_server_edit", "set", value(a[2]));
    if (value(a[0])) {
        ui("host_edit", "set", value(a[0]));
        session.setHost(value(a[0]));
    }
}

function restore_files() {
    var a = arrayfromargs(arguments);
    stored.files = a.join("\n");
    session.setFile("context", value(a[0]));
    session.setFile("init", value(a[1]));
}

function restore_recents() {
    var a = arrayfromargs(arguments);
    stored.recents = a.join("\n");
    var items = [];
    for (var k = 0; k + 3 < a.length; k += 4) {
        items.push({ jobId: String(a[k]), path: String(a[k + 1]), localPath: String(a[k + 2]),
                     seconds: Number(a[k + 3]) || 0, seeds: null });
    }
    session.recents = items;
    ui("recent_menu", "clear");
    for (var i = 0; i < items.length; i++) {
        ui("recent_menu", "append", protocol.formatRecent(items[i]));
    }
}

// ------------------------------------------------------------------------- OSC replies

function anything() {
    var args = arrayfromargs(arguments);
    if (messagename.charAt(0) === "/") {
        session.receive(messagename, args);
    } else {
        post("jbdiff: unknown message " + messagename + "\n");
    }
}

// ------------------------------------------------------------------------ Live results

function joined(list) {
    if (list === undefined || list === null) {
        return "";
    }
    return (typeof list === "object" && list.join ? list.join(" ") : String(list)).replace(/^"|"$/g, "");
}

function liveVersion() {
    var app = new LiveAPI(null, "live_app");
    return [Number(app.call("get_major_version")), Number(app.call("get_minor_version")),
            Number(app.call("get_bugfix_version"))];
}

// Put a finished WAV into this track's next free clip slot (Live 12.0.5+), else say where it is.
function insertItem(item) {
    var track = new LiveAPI(null, "this_device canonical_parent");
    var count = track.getcount("clip_slots");
    var slots = [];
    for (var k = 0; k < count; k++) {
        slots.push(Number(new LiveAPI(null, track.unquotedpath + " clip_slots " + k).get("has_clip")[0]) === 1);
    }
    var plan = protocol.planInsert({
        liveVersion: liveVersion(),
        isAudioTrack: Number(track.get("has_audio_input")[0]) === 1,
        isFrozen: Number(track.get("is_frozen")[0]) === 1,
        slots: slots,
        startIndex: 0
    });
    if (plan.action === "new_scene") {
        new LiveAPI(null, "live_set").call("create_scene", -1);
    }
    if (plan.action === "slot" || plan.action === "new_scene") {
        var slot = new LiveAPI(null, track.unquotedpath + " clip_slots " + plan.index);
        slot.call("create_audio_clip", item.localPath);
        if (Number(slot.get("has_clip")[0]) !== 1) {
            plan = { action: "manual", reason: "Live did not create the clip: is the file reachable here?" };
        }
    }
    session.inserted(item, plan);
}
