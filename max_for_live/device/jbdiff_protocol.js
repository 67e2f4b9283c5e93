// What the jbdiff device says to the server and how it reads the answers: pure functions.
//
// Loaded by Max's [js] object (JavaScript 1.8.5, so ES5 only: var, function, no arrows,
// no template strings) and by Node for the tests. CommonJS: everything is an `exports.x`.
// Nothing here touches Max, Live or the network; jbdiff_session.js keeps the state and
// jbdiff_device.js is the thin Max glue. The address table these messages must fit is
// docs/osc.md (JSON: docs/osc.json), generated from the server's route tables.

var NS = "/jbdiff";

var ADDRESS = {
    ping: NS + "/ping",
    pong: NS + "/pong",
    hello: NS + "/hello",
    helloOk: NS + "/hello/ok",
    bye: NS + "/bye",
    byeOk: NS + "/bye/ok",
    status: NS + "/status",
    describe: NS + "/api/describe",
    generate: NS + "/generate",
    cancel: NS + "/cancel",
    jobs: NS + "/jobs",
    jobGet: NS + "/job/get",
    paramSet: NS + "/param/set",
    paramGet: NS + "/param/get",
    params: NS + "/params",
    paramList: NS + "/param/list",
    presetSave: NS + "/preset/save",
    presetLoad: NS + "/preset/load",
    presetList: NS + "/preset/list",
    modelSet: NS + "/model/set",
    modelGet: NS + "/model/get",
    modelList: NS + "/model/list",
    accepted: NS + "/job/accepted",
    started: NS + "/job/started",
    progress: NS + "/job/progress",
    done: NS + "/job/done",
    failed: NS + "/job/failed",
    cancelled: NS + "/job/cancelled",
    interrupted: NS + "/job/interrupted",
    requeued: NS + "/job/requeued",
    error: NS + "/error",
    hotfolderStatus: NS + "/hotfolder/status",
    hotfolderDrops: NS + "/hotfolder/drops",
    hotfolderDrop: NS + "/hotfolder/drop",
    midiStatus: NS + "/midi/status",
    midiPorts: NS + "/midi/ports",
    midiConnect: NS + "/midi/connect",
    midiIn: NS + "/midi/in",
    preview: NS + "/preview",
    previewStop: NS + "/preview/stop",
    recordContext: NS + "/record_context",
    recordStarted: NS + "/record_context/started",
    recordDone: NS + "/record_context/done",
    audioDevices: NS + "/audio/devices"
};

var DEFAULT = "default";            // the server's word for "the model's own value"
var MAX_SECONDS = 600;              // GenerationRequest's limit (jbdiff/request.py)
var MIN_SECONDS = 0.5;              // the Seconds dial's minimum; shorter is no use for diffusion windows
var MAX_NAME_CHARS = 96;            // server/params.py MAX_NAME_CHARS
var MAX_SEED = 16777215;            // 2^24 - 1: Live stores parameter values as floats; every int up to here is exact
var NOISE_STYLES = ["random", "constant", "region", "walk"];
var LEVEL_CHOICES = ["210", "21", "20", "10", "2", "1", "0"];
var QUALITIES = ["standard", "draft"];
var STATUS_CHARS = 140;             // what fits the device's status line
var CREATE_AUDIO_CLIP_SINCE = [12, 0, 5];

// The device's parameters: one row per live.* object in jbdiff.maxpat (same long name, range
// and default; tests/ check both ways). `key`: the /jbdiff/generate key it feeds, if any.
// Types: float, int, enum (items), toggle (0/1), button (momentary 0/1).
// `hidden`: stored with the Live set but not automatable (parameter_invisible 1).
var PARAMS = [
    { name: "length_mode", longname: "Length Mode", shortname: "Length", type: "enum",
      items: ["Seconds", "Bars"], initial: 0 },
    { name: "seconds", longname: "Seconds", shortname: "Seconds", type: "float", min: MIN_SECONDS, max: MAX_SECONDS,
      initial: 12, key: "seconds" },
    { name: "bars", longname: "Bars", shortname: "Bars", type: "float", min: 0.25, max: 64, initial: 4,
      steps: 256 },
    { name: "levels", longname: "Levels", shortname: "Levels", type: "enum",
      items: ["2-1-0", "2-1", "2-0", "1-0", "2", "1", "0"], initial: 0, key: "levels" },
    { name: "steps_2", longname: "Steps Level 2", shortname: "Steps 2", type: "int", min: 0, max: 1000,
      initial: 0, key: "steps_2" },
    { name: "steps_1", longname: "Steps Level 1", shortname: "Steps 1", type: "int", min: 0, max: 1000,
      initial: 0, key: "steps_1" },
    { name: "steps_0", longname: "Steps Level 0", shortname: "Steps 0", type: "int", min: 0, max: 1000,
      initial: 0, key: "steps_0" },
    { name: "steps_dd", longname: "Steps Dance", shortname: "Steps DD", type: "int", min: 0, max: 1000,
      initial: 0, key: "steps_dd" },
    { name: "embedding_auto", longname: "Embedding Auto", shortname: "Emb Auto", type: "toggle", initial: 1 },
    { name: "embedding_strength", longname: "Embedding Strength", shortname: "Embedding", type: "float",
      min: 0, max: 50, initial: 4, key: "embedding_strength", running: true },
    { name: "init_strength", longname: "Init Strength", shortname: "Init Str", type: "float", min: 0, max: 1,
      initial: 0.5, key: "init_strength" },
    { name: "noise_style", longname: "Noise Style", shortname: "Noise", type: "enum", items: NOISE_STYLES,
      initial: 0, key: "noise_style" },
    { name: "noise_step_size", longname: "Noise Step Size", shortname: "Noise Stp", type: "float", min: 0,
      max: 1, initial: 0.6, key: "noise_step_size", running: true },
    { name: "dd_noise_style", longname: "Dance Noise Style", shortname: "DD Noise", type: "enum",
      items: NOISE_STYLES, initial: 0, key: "dd_noise_style" },
    { name: "dd_noise_step_size", longname: "Dance Noise Step Size", shortname: "DD Stp", type: "float",
      min: 0, max: 1, initial: 0.4, key: "dd_noise_step_size", running: true },
    { name: "noise_seed", longname: "Seed", shortname: "Seed", type: "int", min: 0, max: MAX_SEED, initial: 0,
      key: "noise_seed" },
    { name: "dd_noise_seed", longname: "Dance Seed", shortname: "DD Seed", type: "int", min: 0, max: MAX_SEED,
      initial: 0, key: "dd_noise_seed" },
    { name: "lock_seeds", longname: "Lock Seeds", shortname: "Lock", type: "toggle", initial: 0 },
    { name: "token_multiplier", longname: "Token Multiplier", shortname: "Tokens", type: "int", min: 1, max: 32,
      initial: 2, key: "token_multiplier" },
    { name: "use_dd", longname: "Use Dance Diffusion", shortname: "Use DD", type: "toggle", initial: 1,
      key: "use_dd" },
    { name: "quality", longname: "Quality", shortname: "Quality", type: "enum", items: ["Standard", "Draft"],
      initial: 0, key: "quality" },
    { name: "auto_insert", longname: "Auto Insert", shortname: "Insert", type: "toggle", initial: 1 },
    { name: "generate", longname: "Generate", shortname: "Generate", type: "button", initial: 0 },
    { name: "cancel", longname: "Cancel", shortname: "Cancel", type: "button", initial: 0 },
    { name: "port", longname: "Server Port", shortname: "Port", type: "int", min: 1, max: 65535, initial: 9130,
      hidden: true },
    { name: "reply_port", longname: "Reply Port", shortname: "Reply", type: "int", min: 1, max: 65535,
      initial: 9131, hidden: true }
];

function paramSpec(name) {
    for (var i = 0; i < PARAMS.length; i++) {
        if (PARAMS[i].name === name) {
            return PARAMS[i];
        }
    }
    return null;
}

function paramRange(spec) {
    if (spec.type === "enum") {
        return [0, spec.items.length - 1];
    }
    if (spec.type === "toggle" || spec.type === "button") {
        return [0, 1];
    }
    return [spec.min, spec.max];
}

// Every parameter at its default, keyed by name.
function defaultValues() {
    var out = {};
    for (var i = 0; i < PARAMS.length; i++) {
        out[PARAMS[i].name] = PARAMS[i].initial;
    }
    return out;
}

// A value from a live.* object, clamped to its range (ints and enums rounded); null if unknown.
function coerceValue(name, raw) {
    var spec = paramSpec(name);
    var value = Number(raw);
    if (spec === null || !isFinite(value)) {
        return null;
    }
    var range = paramRange(spec);
    if (spec.type !== "float") {
        value = Math.round(value);
    }
    return Math.min(range[1], Math.max(range[0], value));
}

// ------------------------------------------------------------------------ time and names

// Length of `bars` bars in seconds at Live's tempo; Live counts tempo in quarter notes.
function barsToSeconds(bars, tempo, numerator, denominator) {
    if (!(tempo > 0) || !(numerator > 0) || !(denominator > 0)) {
        throw deviceError("BadTempo", "tempo and time signature must be positive (got " + tempo + " BPM " +
                          numerator + "/" + denominator + ")");
    }
    return bars * numerator * (4 / denominator) * 60 / tempo;
}

function lengthSeconds(values, song) {
    if (values.length_mode === 1) {
        return barsToSeconds(values.bars, song.tempo, song.numerator, song.denominator);
    }
    return values.seconds;
}

function formatNumber(value, digits) {
    var text = Number(value).toFixed(digits);
    if (text.indexOf(".") >= 0) {
        text = text.replace(/0+$/, "").replace(/\.$/, "");
    }
    return text;
}

// "4 bars = 8 s at 120 BPM 4/4" or "12 s": what the length display shows.
function describeLength(values, song) {
    var seconds = lengthSeconds(values, song);
    if (values.length_mode === 1) {
        return formatNumber(values.bars, 2) + " bars = " + formatNumber(seconds, 2) + " s at " +
            formatNumber(song.tempo, 2) + " BPM " + song.numerator + "/" + song.denominator;
    }
    return formatNumber(seconds, 2) + " s";
}

// A track name as the output file name part: letters, digits, space, - _ . (the server's rule).
function safeName(text) {
    var name = String(text === undefined || text === null ? "" : text)
        .replace(/[^A-Za-z0-9 _.\-]+/g, "_")
        .replace(/^[\s.]+/, "")
        .replace(/\s+$/, "");
    if (name.length > MAX_NAME_CHARS) {
        name = name.substring(0, MAX_NAME_CHARS).replace(/\s+$/, "");
    }
    return name.length ? name : "jbdiff";
}

// --------------------------------------------------------------------------------- paths

function slashes(path) {
    return String(path).replace(/\\/g, "/");
}

// A path from Max ([live.drop], [conformpath]) as the operating system writes it:
// "Macintosh HD:/Users/me/a.wav" -> "/Users/me/a.wav", "Data:/a.wav" -> "/Volumes/Data/a.wav",
// "C:/x/a.wav" stays. `bootVolume` names the macOS start-up disk when known.
function nativePath(path, bootVolume) {
    var text = slashes(path);
    var match = /^([^\/:]+):\/(.*)$/.exec(text);
    if (match === null || /^[A-Za-z]$/.test(match[1])) {
        return text;
    }
    var boot = bootVolume || "Macintosh HD";
    if (match[1] === boot) {
        return "/" + match[2];
    }
    return "/Volumes/" + match[1] + "/" + match[2];
}

function isWindowsPath(path) {
    return /^[A-Za-z]:\//.test(path);
}

function trimSlash(path) {
    return path.length > 1 ? path.replace(/\/+$/, "") : path;
}

// `path` moved from under `fromRoot` to under `toRoot`; null when it is not under `fromRoot`.
function rebase(path, fromRoot, toRoot) {
    var p = slashes(path);
    var from = trimSlash(slashes(fromRoot));
    var to = trimSlash(slashes(toRoot));
    var a = isWindowsPath(from) ? p.toLowerCase() : p;
    var b = isWindowsPath(from) ? from.toLowerCase() : from;
    if (a === b) {
        return to;
    }
    if (a.indexOf(b + "/") !== 0) {
        return null;
    }
    return to + p.substring(from.length);
}

// A file on this machine as the server sees it (the shared folder's two names), else unchanged.
function toServerPath(localPath, share) {
    if (share && share.local && share.server) {
        var moved = rebase(localPath, share.local, share.server);
        if (moved !== null) {
            return moved;
        }
    }
    return slashes(localPath);
}

// A result path from the server as this machine sees it, else unchanged.
function toLocalPath(serverPath, share) {
    if (share && share.local && share.server) {
        var moved = rebase(serverPath, share.server, share.local);
        if (moved !== null) {
            return moved;
        }
    }
    return serverPath;
}

function isLocalHost(host) {
    var h = String(host || "").toLowerCase();
    return h === "" || h === "localhost" || h === "::1" || h.indexOf("127.") === 0;
}

function baseName(path) {
    var parts = slashes(path).split("/");
    return parts[parts.length - 1];
}

// ------------------------------------------------------------------------------ messages

function osc(address, args) {
    return { address: address, args: args || [] };
}

function s(value) {
    return { type: "s", value: String(value) };
}

function i(value) {
    return { type: "i", value: Math.round(value) };
}

function f(value) {
    return { type: "f", value: Number(value) };
}

function ping() {
    return osc(ADDRESS.ping);
}

function hello(replyPort) {
    return osc(ADDRESS.hello, [i(replyPort)]);
}

function bye() {
    return osc(ADDRESS.bye);
}

function status() {
    return osc(ADDRESS.status);
}

function paramList() {
    return osc(ADDRESS.paramList);
}

// Server parameters the device's generate messages use that `names` (from /jbdiff/param/list) lacks.
function missingKeys(names) {
    var missing = [];
    for (var k = 0; k < GENERATE_KEYS.length; k++) {
        if (names.indexOf(GENERATE_KEYS[k]) < 0) {
            missing.push(GENERATE_KEYS[k]);
        }
    }
    return missing;
}

// The model menu: what the server offers, which one the next jobs use, and choosing one.
function modelList() {
    return osc(ADDRESS.modelList);
}

function modelGet() {
    return osc(ADDRESS.modelGet);
}

function modelSet(name) {
    return osc(ADDRESS.modelSet, [s(name)]);
}

function cancel(jobId) {
    return osc(ADDRESS.cancel, [s(jobId)]);
}

function jobGet(jobId) {
    return osc(ADDRESS.jobGet, [s(jobId)]);
}

// Play a finished result on the server's audio output (needs sounddevice there).
function preview(jobId) {
    return osc(ADDRESS.preview, [s(jobId)]);
}

// Record `seconds` from the server's input device into its drop folder's context/.
function recordContext(seconds) {
    return osc(ADDRESS.recordContext, [{ type: "f", value: Number(seconds) }]);
}

// A live change of a parameter whose scope is `running` (it also reaches the rendering job).
function paramSet(name, values) {
    var spec = paramSpec(name);
    if (spec === null || !spec.running) {
        throw deviceError("NotLive", name + " cannot change a running job");
    }
    return osc(ADDRESS.paramSet, [s(spec.key), valueArg(spec, values)]);
}

function valueArg(spec, values) {
    var v = values[spec.name];
    if (spec.name === "embedding_strength" && values.embedding_auto === 1) {
        return s(DEFAULT);
    }
    if (spec.name.indexOf("steps_") === 0) {
        return v > 0 ? i(v) : s(DEFAULT);
    }
    if (spec.name === "levels") {
        return s(LEVEL_CHOICES[v]);
    }
    if (spec.name === "quality") {
        return s(QUALITIES[v]);
    }
    if (spec.type === "enum") {
        return s(spec.items[v]);
    }
    if (spec.type === "toggle" || spec.type === "int") {
        return i(v);
    }
    return f(v);
}

// Device parameters sent under their own key, and every key a generate message carries.
var KEYED = ["levels", "init_strength", "noise_style", "noise_step_size", "dd_noise_style", "dd_noise_step_size",
             "token_multiplier", "use_dd", "quality", "embedding_strength", "steps_2", "steps_1", "steps_0",
             "steps_dd"];
var GENERATE_KEYS = ["seconds"].concat(KEYED, ["noise_seed", "dd_noise_seed", "context", "init", "name"]);

function randomSeed(random) {
    return Math.floor(random() * (MAX_SEED + 1));
}

// The seeds of the next job: the locked ones, or fresh ones from `random` (0 <= x < 1).
function nextSeeds(values, random) {
    if (values.lock_seeds === 1) {
        return { noise: values.noise_seed, dd: values.dd_noise_seed };
    }
    return { noise: randomSeed(random), dd: randomSeed(random) };
}

function deviceError(code, message) {
    var err = new Error(message);
    err.name = "DeviceError";
    err.code = code;
    return err;
}

// The /jbdiff/generate message for the device's values. `ctx`: song {tempo, numerator,
// denominator}, context and init (server-side paths or ""), name, seeds {noise, dd}, tag.
// Every key is given so the server's live parameters (set by other clients) never leak in.
function generate(values, ctx) {
    var seconds = lengthSeconds(values, ctx.song);
    if (!(seconds >= MIN_SECONDS) || seconds > MAX_SECONDS) {
        throw deviceError("BadLength", describeLength(values, ctx.song) + " is outside " + MIN_SECONDS +
                          " .. " + MAX_SECONDS + " s: change the bars or the length");
    }
    var args = [s("seconds"), f(seconds)];
    for (var k = 0; k < KEYED.length; k++) {
        var spec = paramSpec(KEYED[k]);
        args.push(s(spec.key), valueArg(spec, values));
    }
    args.push(s("noise_seed"), i(ctx.seeds.noise), s("dd_noise_seed"), i(ctx.seeds.dd));
    args.push(s("context"), s(ctx.context || ""), s("init"), s(ctx.init || ""));
    args.push(s("name"), s(safeName(ctx.name)), s("tag"), s(ctx.tag));
    return osc(ADDRESS.generate, args);
}

// A message as the list Max's [udpsend] takes: address first, then the values.
function toMaxList(message) {
    var out = [message.address];
    for (var k = 0; k < message.args.length; k++) {
        out.push(message.args[k].value);
    }
    return out;
}

// ------------------------------------------------------------------------------- replies

function isString(v) {
    return typeof v === "string";
}

function isNumber(v) {
    return typeof v === "number" && isFinite(v);
}

function str(v) {
    return v === undefined || v === null ? "" : String(v);
}

function malformed(address, args, why) {
    return { kind: "malformed", address: address, args: args, reason: why };
}

function pairs(args) {
    var items = {};
    for (var k = 0; k + 1 < args.length; k += 2) {
        items[str(args[k])] = args[k + 1];
    }
    return items;
}

var JOB_EVENTS = {};
JOB_EVENTS[ADDRESS.accepted] = "accepted";
JOB_EVENTS[ADDRESS.started] = "started";
JOB_EVENTS[ADDRESS.progress] = "progress";
JOB_EVENTS[ADDRESS.done] = "done";
JOB_EVENTS[ADDRESS.failed] = "failed";
JOB_EVENTS[ADDRESS.cancelled] = "cancelled";
JOB_EVENTS[ADDRESS.interrupted] = "interrupted";
JOB_EVENTS[ADDRESS.requeued] = "requeued";

function parseJobEvent(kind, address, args) {
    if (args.length < 1 || !isString(args[0]) || args[0] === "") {
        return malformed(address, args, "expected a job id first");
    }
    var ev = { kind: kind, jobId: args[0] };
    if (kind === "accepted") {
        ev.tag = str(args[1]);
    } else if (kind === "progress") {
        if (args.length < 3 || !isNumber(args[2])) {
            return malformed(address, args, "expected <job_id> <stage> <fraction>");
        }
        ev.stage = str(args[1]);
        ev.fraction = Math.min(1, Math.max(0, args[2]));
    } else if (kind === "done") {
        if (args.length < 3 || !isString(args[1]) || args[1] === "" || !isNumber(args[2])) {
            return malformed(address, args, "expected <job_id> <wav_path> <seconds>");
        }
        ev.path = args[1];
        ev.seconds = args[2];
    } else if (kind === "failed") {
        ev.reason = str(args[1]) || "failed";
    }
    return ev;
}

// A message from the server -> one event object ({kind: ...}); never throws.
function parse(address, args) {
    args = args || [];
    var kind = JOB_EVENTS[address];
    if (kind) {
        return parseJobEvent(kind, address, args);
    }
    switch (address) {
    case ADDRESS.pong:
        return { kind: "pong", version: str(args[0]) };
    case ADDRESS.helloOk:
        return { kind: "hello", version: str(args[0]) };
    case ADDRESS.byeOk:
        return { kind: "bye" };
    case ADDRESS.status:
        return { kind: "status", items: pairs(args) };
    case ADDRESS.describe:
        try {
            return { kind: "describe", api: JSON.parse(str(args[0])) };
        } catch (e) {
            return malformed(address, args, "the description is not JSON");
        }
    case ADDRESS.error:
        if (args.length < 3) {
            return malformed(address, args, "expected <address> <message> <code>");
        }
        return { kind: "error", address: str(args[0]), message: str(args[1]), code: str(args[2]) };
    case ADDRESS.cancel:
        if (args[0] === "all") {
            return { kind: "cancel", all: true, count: Number(args[1]) || 0 };
        }
        return { kind: "cancel", jobId: str(args[0]), state: str(args[1]) };
    case ADDRESS.jobs:
        var jobs = [];
        for (var k = 0; k + 1 < args.length; k += 2) {
            jobs.push({ jobId: str(args[k]), state: str(args[k + 1]) });
        }
        return { kind: "jobs", jobs: jobs };
    case ADDRESS.jobGet:
        if (args.length < 6) {
            return malformed(address, args, "expected <job_id> <state> <name> <wav_path> <seconds> <error>");
        }
        return { kind: "job", jobId: str(args[0]), state: str(args[1]), name: str(args[2]),
                 path: str(args[3]), seconds: Number(args[4]) || 0, error: str(args[5]) };
    case ADDRESS.paramSet:
    case ADDRESS.paramGet:
        return { kind: address === ADDRESS.paramSet ? "param_set" : "param_get", name: str(args[0]),
                 value: args[1] };
    case ADDRESS.params:
        var list = [];
        for (var p = 0; p + 2 < args.length; p += 3) {
            list.push({ name: str(args[p]), value: args[p + 1], scope: str(args[p + 2]) });
        }
        return { kind: "params", params: list };
    case ADDRESS.paramList:
        return { kind: "param_list", names: args.map(str) };
    case ADDRESS.presetSave:
        return { kind: "preset_saved", name: str(args[0]), path: str(args[1]) };
    case ADDRESS.presetLoad:
        return { kind: "preset_loaded", name: str(args[0]) };
    case ADDRESS.presetList:
        return { kind: "preset_list", names: args.map(str) };
    case ADDRESS.modelSet:
        if (args.length < 1 || !isString(args[0]) || args[0] === "") {
            return malformed(address, args, "expected <model>");
        }
        return { kind: "model_set", model: args[0] };
    case ADDRESS.modelGet:
        if (args.length < 2 || !isString(args[0]) || args[0] === "" || !isString(args[1])) {
            return malformed(address, args, "expected <model> <configured model>");
        }
        return { kind: "model_get", model: args[0], configured: args[1] };
    case ADDRESS.modelList:
        if (!args.every(isString)) {
            return malformed(address, args, "expected model names");
        }
        return { kind: "model_list", names: args.slice() };
    case ADDRESS.hotfolderStatus:
        return { kind: "hotfolder_status", items: pairs(args) };
    case ADDRESS.hotfolderDrops:
        var drops = [];
        for (var d = 0; d + 4 < args.length; d += 5) {
            drops.push({ dropKind: str(args[d]), path: str(args[d + 1]), state: str(args[d + 2]),
                         jobId: str(args[d + 3]), error: str(args[d + 4]) });
        }
        return { kind: "drops", drops: drops };
    case ADDRESS.hotfolderDrop:
        return { kind: "drop", dropKind: str(args[0]), path: str(args[1]), jobId: str(args[2]) };
    case ADDRESS.midiStatus:
        return { kind: "midi_status", items: pairs(args) };
    case ADDRESS.midiPorts:
        return { kind: "midi_ports", names: args.map(str) };
    case ADDRESS.midiConnect:
        return { kind: "midi_connected", port: str(args[0]) };
    case ADDRESS.midiIn:
        return { kind: "midi_in", actions: args.map(str) };
    case ADDRESS.preview:
        return { kind: "preview", jobId: str(args[0]), seconds: Number(args[1]) || 0 };
    case ADDRESS.previewStop:
        return { kind: "preview_stopped" };
    case ADDRESS.recordStarted:
        return { kind: "recording", path: str(args[0]), seconds: Number(args[1]) || 0 };
    case ADDRESS.recordDone:
        return { kind: "recorded", path: str(args[0]) };
    case ADDRESS.audioDevices:
        var devices = [];
        for (var a = 0; a + 3 < args.length; a += 4) {
            devices.push({ index: Number(args[a]), name: str(args[a + 1]), inputs: Number(args[a + 2]) || 0,
                           outputs: Number(args[a + 3]) || 0 });
        }
        return { kind: "audio_devices", devices: devices };
    default:
        return { kind: "unknown", address: address, args: args };
    }
}

// --------------------------------------------------------------------------------- display

function clip(text, limit) {
    var t = String(text).replace(/\s+/g, " ");
    var n = limit || STATUS_CHARS;
    return t.length > n ? t.substring(0, n - 3) + "..." : t;
}

var ERROR_HINTS = {
    BadPath: "put the file in the server's drop folder (or a library folder)",
    ModelNotLoaded: "pick another Model, or run `jbdiff download jbdiff-v1` on the server",
    QueueFull: "the server's queue is full: wait, or cancel jobs",
    ShuttingDown: "the server is stopping: start it again",
    OutOfMemory: "out of GPU memory: shorter length, fewer tokens, or fewer levels",
    UnknownAddress: "device and server versions differ: update one of them",
    JobNotFound: "the server does not know that job (restarted with another data folder?)",
    JobFinished: "the job had already finished",
    BadPacket: "the server could not read the message",
    InternalError: "a server bug: see the server's log"
};

// A refused /jbdiff/model/set: the name, not a sound file, was the problem.
var MODEL_SET_HINTS = {
    BadRequest: "unknown model or file",
    BadPath: "unknown model or file",
    ModelNotLoaded: "pick another model or download it"
};

// An error reply as one status line: what failed, the server's words, and what to do.
function formatError(ev) {
    var what = ev.address === ADDRESS.generate ? "Generate" :
        ev.address === ADDRESS.cancel ? "Cancel" :
        ev.address === ADDRESS.modelSet ? "Model" : ev.address || "request";
    var text = (ev.address === ADDRESS.modelSet && MODEL_SET_HINTS[ev.code]) || ERROR_HINTS[ev.code];
    var hint = text ? " - " + text : "";
    var head = "Error (" + ev.code + ") " + what + ": ";
    var room = Math.max(24, STATUS_CHARS - head.length - hint.length);
    return clip(head + clip(ev.message, room) + hint);     // the hint survives a long message
}

// A device-side problem (bad length, no clip selected ...) as one status line.
function formatDeviceError(err) {
    return clip("Not sent: " + (err && err.message ? err.message : String(err)));
}

var STAGES = { level2: "level 2", level1: "level 1", level0: "level 0", dd: "stereo (Dance Diffusion)" };

function formatProgress(ev) {
    return clip("Rendering " + (STAGES[ev.stage] || ev.stage) + " - " + Math.round(ev.fraction * 100) + "%");
}

function formatStatus(items) {
    var model = str(items.model) || "?";
    var text = "Connected: jbdiff " + str(items.version) + ", model " + model;
    if (items.model_name) {
        text += " (" + items.model_name + ")";
    }
    if (model !== "ready" && items.model_message) {
        text += ": " + items.model_message;
    }
    return clip(text + ", " + (Number(items.queued) || 0) + " queued");
}

// "connected" when a pong came within `timeoutMs`, "waiting" before the first answer is due,
// "offline" otherwise.
function connectionState(now, lastPongAt, firstPingAt, timeoutMs) {
    if (lastPongAt !== null && now - lastPongAt <= timeoutMs) {
        return "connected";
    }
    if (lastPongAt === null && (firstPingAt === null || now - firstPingAt <= timeoutMs)) {
        return "waiting";
    }
    return "offline";
}

// The model menu for `names` (from /jbdiff/model/list) with `selected` (from /jbdiff/model/get or
// /set) shown. A file comes back from the server as an absolute path but is listed by file name,
// so they match by file name. A selection the list lacks (a configured path outside the models
// folder) is added at the end under its file name and sent back as the server stored it.
// -> {items: labels, values: what /jbdiff/model/set gets, index: the selected item or -1}.
function modelMenu(names, selected) {
    var items = [];
    var values = [];
    var index = -1;
    var chosen = str(selected);
    var file = baseName(chosen);
    for (var k = 0; k < names.length; k++) {
        items.push(names[k]);
        values.push(names[k]);
        if (index < 0 && chosen !== "" && (names[k] === chosen || names[k] === file)) {
            index = k;
        }
    }
    if (index < 0 && chosen !== "") {
        items.push(file);
        values.push(chosen);
        index = items.length - 1;
    }
    return { items: items, values: values, index: index };
}

// -------------------------------------------------------------------------- Live helpers

function versionAtLeast(version, minimum) {
    for (var k = 0; k < minimum.length; k++) {
        var a = Number(version[k]) || 0;
        if (a !== minimum[k]) {
            return a > minimum[k];
        }
    }
    return true;
}

// ClipSlot.create_audio_clip(path) exists from Live 12.0.5 (see max_for_live/README.md).
function canCreateAudioClip(version) {
    return versionAtLeast(version, CREATE_AUDIO_CLIP_SINCE);
}

// Where a finished WAV goes. `track`: {liveVersion, isAudioTrack, isFrozen, slots: [has_clip ...],
// startIndex}. -> {action: "slot", index} | {action: "new_scene", index} | {action: "manual", reason}.
function planInsert(track) {
    if (!canCreateAudioClip(track.liveVersion)) {
        return { action: "manual", reason: "Live " + track.liveVersion.join(".") +
                 " cannot create audio clips from a device (needs 12.0.5 or later)" };
    }
    if (!track.isAudioTrack) {
        return { action: "manual", reason: "this is not an audio track" };
    }
    if (track.isFrozen) {
        return { action: "manual", reason: "the track is frozen" };
    }
    var start = Math.max(0, track.startIndex || 0);
    for (var k = start; k < track.slots.length; k++) {
        if (!track.slots[k]) {
            return { action: "slot", index: k };
        }
    }
    return { action: "new_scene", index: track.slots.length };
}

// Newest first, one entry per job, at most `limit`.
function addRecent(list, item, limit) {
    var out = [item];
    for (var k = 0; k < list.length && out.length < (limit || 10); k++) {
        if (list[k].jobId !== item.jobId) {
            out.push(list[k]);
        }
    }
    return out;
}

function formatRecent(item) {
    return item.jobId + "  " + formatNumber(item.seconds, 1) + " s  " + baseName(item.localPath || item.path);
}

exports.ADDRESS = ADDRESS;
exports.DEFAULT = DEFAULT;
exports.MAX_SECONDS = MAX_SECONDS;
exports.MIN_SECONDS = MIN_SECONDS;
exports.MAX_SEED = MAX_SEED;
exports.LEVEL_CHOICES = LEVEL_CHOICES;
exports.QUALITIES = QUALITIES;
exports.NOISE_STYLES = NOISE_STYLES;
exports.PARAMS = PARAMS;
exports.CREATE_AUDIO_CLIP_SINCE = CREATE_AUDIO_CLIP_SINCE;
exports.paramSpec = paramSpec;
exports.paramRange = paramRange;
exports.defaultValues = defaultValues;
exports.coerceValue = coerceValue;
exports.barsToSeconds = barsToSeconds;
exports.lengthSeconds = lengthSeconds;
exports.describeLength = describeLength;
exports.safeName = safeName;
exports.nativePath = nativePath;
exports.toServerPath = toServerPath;
exports.toLocalPath = toLocalPath;
exports.isLocalHost = isLocalHost;
exports.baseName = baseName;
exports.ping = ping;
exports.hello = hello;
exports.bye = bye;
exports.status = status;
exports.cancel = cancel;
exports.modelList = modelList;
exports.modelGet = modelGet;
exports.modelSet = modelSet;
exports.modelMenu = modelMenu;
exports.paramList = paramList;
exports.missingKeys = missingKeys;
exports.GENERATE_KEYS = GENERATE_KEYS;
exports.jobGet = jobGet;
exports.preview = preview;
exports.recordContext = recordContext;
exports.paramSet = paramSet;
exports.nextSeeds = nextSeeds;
exports.generate = generate;
exports.toMaxList = toMaxList;
exports.parse = parse;
exports.formatError = formatError;
exports.formatDeviceError = formatDeviceError;
exports.formatProgress = formatProgress;
exports.formatStatus = formatStatus;
exports.connectionState = connectionState;
exports.canCreateAudioClip = canCreateAudioClip;
exports.planInsert = planInsert;
exports.addRecent = addRecent;
exports.formatRecent = formatRecent;
exports.deviceError = deviceError;
