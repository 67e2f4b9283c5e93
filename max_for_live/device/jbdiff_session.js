// The device's state: parameter values, the connection, this device's jobs and results.
//
// A Session turns user actions (a knob moved, Generate pressed, a file dropped) into OSC
// messages through `send(message)`, and server messages into UI events through
// `emit(event)`. It never talks to Max, Live or a socket itself and never reads the clock
// (`now()` is passed in), so the same code runs in Max's [js] and in Node's tests and
// end-to-end client. ES5 only (Max's JavaScript 1.8.5).

function load(name) {
    // Node resolves relative to this file; Max's require() looks the bare name up in its search path.
    if (typeof process !== "undefined" && process.versions && process.versions.node) {
        return require("./" + name + ".js");
    }
    return require(name);
}

var protocol = load("jbdiff_protocol");

var ACTIVE = { sent: true, queued: true, running: true };

function randomId(random) {
    var chars = "abcdefghijklmnopqrstuvwxyz0123456789";
    var out = "";
    for (var k = 0; k < 6; k++) {
        out += chars.charAt(Math.floor(random() * chars.length));
    }
    return out;
}

function Session(options) {
    options = options || {};
    this.send = options.send || function () {};
    this.emit = options.emit || function () {};
    this.now = options.now || function () { return new Date().getTime(); };
    this.random = options.random || Math.random;
    this.instance = options.instance || "m4l-" + randomId(this.random);
    this.pingIntervalMs = options.pingIntervalMs || 2000;
    this.timeoutMs = options.timeoutMs || 5000;
    this.recentLimit = options.recentLimit || 10;
    this.values = protocol.defaultValues();
    this.host = "127.0.0.1";
    this.share = { local: "", server: "" };
    this.song = { tempo: 120, numerator: 4, denominator: 4 };
    this.trackName = "";
    this.files = { context: "", init: "" };        // paths on this machine
    this.pending = [];                             // sent, not yet accepted: {tag, seeds, cancel}
    this.jobs = {};                                // jobId -> {tag, state, stage, fraction, seeds}
    this.order = [];                               // this device's job ids, oldest first
    this.recents = [];
    this.lastSeeds = null;
    this.counter = 0;
    this.model = "";                               // the server's model state: loading, ready, missing, error
    this.models = { names: [], selected: "", configured: "" };   // the model menu, as the server says
    this.modelMenu = protocol.modelMenu([], "");
    this.modelMenuKey = null;
    this.conn = { state: "waiting", version: "", lastPongAt: null, firstPingAt: null, lastPingAt: null };
}

// ----------------------------------------------------------------------------- settings

Session.prototype.setValue = function (name, raw) {
    var value = protocol.coerceValue(name, raw);
    if (value === null) {
        return false;
    }
    if (name === "generate" || name === "cancel") {   // momentary: every press counts
        if (value === 1) {
            if (name === "generate") {
                this.generate();
            } else {
                this.cancel();
            }
        }
        return true;
    }
    var old = this.values[name];
    this.values[name] = value;
    if (name === "lock_seeds") {
        if (value === 1 && old !== 1 && this.lastSeeds !== null) {
            this.values.noise_seed = this.lastSeeds.noise;   // lock what was just heard
            this.values.dd_noise_seed = this.lastSeeds.dd;
            this.emit({ kind: "lock_seeds", noise: this.lastSeeds.noise, dd: this.lastSeeds.dd });
        }
    } else if (name === "port" || name === "reply_port") {
        if (value !== old) {
            this.emit({ kind: "endpoint", host: this.host, port: this.values.port,
                        replyPort: this.values.reply_port });
            this.connect();
        }
    } else if (name === "embedding_auto") {
        this.emit({ kind: "embedding_active", on: value === 0 });
        this.sendLive("embedding_strength");
    } else if (name === "length_mode" || name === "seconds" || name === "bars") {
        this.emitLength();
    }
    var spec = protocol.paramSpec(name);
    if (spec.running && value !== old) {
        this.sendLive(name);
    }
    return true;
};

// Running-scope values also reach the job that is rendering now.
Session.prototype.sendLive = function (name) {
    if (this.activeJobIds().length > 0) {
        this.send(protocol.paramSet(name, this.values));
    }
};

Session.prototype.setSong = function (tempo, numerator, denominator) {
    var t = Number(tempo);
    var n = Number(numerator);
    var d = Number(denominator);
    this.song = {
        tempo: t > 0 ? t : this.song.tempo,
        numerator: n > 0 ? n : this.song.numerator,
        denominator: d > 0 ? d : this.song.denominator
    };
    this.emitLength();
};

Session.prototype.emitLength = function () {
    var text;
    try {
        text = protocol.describeLength(this.values, this.song);
        var seconds = protocol.lengthSeconds(this.values, this.song);
        if (seconds > protocol.MAX_SECONDS || seconds < protocol.MIN_SECONDS) {
            text += " (allowed: " + protocol.MIN_SECONDS + " .. " + protocol.MAX_SECONDS + " s)";
        }
    } catch (e) {
        text = e.message;
    }
    this.emit({ kind: "length", text: text });
};

Session.prototype.setHost = function (host) {
    var h = String(host || "").replace(/^\s+|\s+$/g, "");
    if (!h || h === this.host) {
        return;
    }
    this.host = h;
    this.emit({ kind: "endpoint", host: this.host, port: this.values.port, replyPort: this.values.reply_port });
    this.connect();
};

Session.prototype.setShare = function (localRoot, serverRoot) {
    this.share = { local: String(localRoot || ""), server: String(serverRoot || "") };
};

Session.prototype.setTrackName = function (name) {
    this.trackName = String(name || "");
};

// A context or init file on this machine ("" clears it).
Session.prototype.setFile = function (which, path) {
    if (which !== "context" && which !== "init") {
        return;
    }
    this.files[which] = path ? String(path) : "";
    this.emit({ kind: "files", context: this.files.context, init: this.files.init });
    if (this.files[which] && !protocol.isLocalHost(this.host) &&
            protocol.toServerPath(this.files[which], this.share) === protocol.toServerPath(this.files[which])) {
        this.status("The server runs on " + this.host + ": " + which + " must be in its shared drop " +
                    "folder (set the shared folder's two names, or copy the file there)");
    }
};

// --------------------------------------------------------------------------- connection

Session.prototype.connect = function () {
    var now = this.now();
    this.conn = { state: "waiting", version: "", lastPongAt: null, firstPingAt: now, lastPingAt: now };
    this.send(protocol.hello(this.values.reply_port));
    this.send(protocol.ping());
    this.emitConnection();
};

// Called about once a second: ping, and notice a server that stopped answering.
Session.prototype.tick = function () {
    var now = this.now();
    if (this.conn.lastPingAt === null || now - this.conn.lastPingAt >= this.pingIntervalMs) {
        if (this.conn.state !== "connected") {
            this.send(protocol.hello(this.values.reply_port));   // the server may have restarted
        }
        this.send(protocol.ping());
        if (this.conn.state === "connected" && this.model === "loading") {
            this.send(protocol.status());                       // until the model is ready
        }
        this.conn.lastPingAt = now;
        if (this.conn.firstPingAt === null) {
            this.conn.firstPingAt = now;
        }
    }
    this.updateConnection();
};

Session.prototype.updateConnection = function () {
    var state = protocol.connectionState(this.now(), this.conn.lastPongAt, this.conn.firstPingAt, this.timeoutMs);
    if (state !== this.conn.state) {
        this.conn.state = state;
        this.emitConnection();
    }
};

Session.prototype.emitConnection = function () {
    var where = this.host + ":" + this.values.port;
    var text = this.conn.state === "connected" ? "jbdiff " + this.conn.version + " at " + where :
        this.conn.state === "waiting" ? "Looking for the server at " + where + " ..." :
        "No answer from " + where + ": is `jbdiff serve` running? (firewall, ports)";
    this.emit({ kind: "connection", state: this.conn.state, text: text });
};

// ------------------------------------------------------------------------------- actions

Session.prototype.status = function (text) {
    this.emit({ kind: "status", text: text });
};

Session.prototype.activeJobIds = function () {
    var out = [];
    for (var k = 0; k < this.order.length; k++) {
        var job = this.jobs[this.order[k]];
        if (job && ACTIVE[job.state]) {
            out.push(this.order[k]);
        }
    }
    return out;
};

Session.prototype.emitBusy = function () {
    this.emit({ kind: "busy", jobs: this.activeJobIds().length + this.pending.length });
};

// Send one generation with the current values; returns the message, or null when not sent.
Session.prototype.generate = function () {
    var seeds = protocol.nextSeeds(this.values, this.random);
    var tag = this.instance + "-" + (this.counter + 1);
    var message;
    try {
        message = protocol.generate(this.values, {
            song: this.song,
            context: this.files.context ? protocol.toServerPath(this.files.context, this.share) : "",
            init: this.files.init ? protocol.toServerPath(this.files.init, this.share) : "",
            name: this.trackName,
            seeds: seeds,
            tag: tag
        });
    } catch (e) {
        this.status(protocol.formatDeviceError(e));
        return null;
    }
    this.counter += 1;
    this.lastSeeds = seeds;
    this.pending.push({ tag: tag, seeds: seeds, cancel: false });
    this.send(message);
    this.emit({ kind: "seeds", noise: seeds.noise, dd: seeds.dd });
    this.emit({ kind: "progress", fraction: 0 });
    var waiting = this.conn.state === "connected" ? "" : " (the server has not answered yet)";
    this.status("Sent " + protocol.describeLength(this.values, this.song) + ", seeds " + seeds.noise + "/" +
                seeds.dd + waiting);
    this.emitBusy();
    return message;
};

// Cancel every job of this device (queued ones at once, the rendering one within a step).
Session.prototype.cancel = function () {
    var ids = this.activeJobIds();
    for (var k = 0; k < ids.length; k++) {
        this.send(protocol.cancel(ids[k]));
    }
    for (var p = 0; p < this.pending.length; p++) {
        this.pending[p].cancel = true;           // cancelled as soon as its id arrives
    }
    if (ids.length === 0 && this.pending.length === 0) {
        this.status("Nothing to cancel");
    } else {
        this.status("Cancelling " + (ids.length + this.pending.length) + " job(s) ...");
    }
};

// ------------------------------------------------------------------------------ replies

// A message from [udpreceive] (or a socket); returns the parsed event.
Session.prototype.receive = function (address, args) {
    var ev = protocol.parse(address, args || []);
    var handler = this["on_" + ev.kind];
    if (typeof handler === "function") {
        handler.call(this, ev);
    }
    return ev;
};

Session.prototype.markAlive = function (version) {
    this.conn.lastPongAt = this.now();
    if (version) {
        this.conn.version = version;
    }
    if (this.conn.state !== "connected") {
        this.conn.state = "connected";
        this.emitConnection();
    }
};

Session.prototype.on_pong = function (ev) {
    this.markAlive(ev.version);
};

Session.prototype.on_hello = function (ev) {
    this.markAlive(ev.version);
    this.send(protocol.status());
    this.send(protocol.paramList());                  // does this server know every key the device sends?
    this.requestModels();
};

// ---------------------------------------------------------------------------- the model

// Ask for the menu's names and the current selection (the server keeps the choice, not the set).
Session.prototype.requestModels = function () {
    this.send(protocol.modelList());
    this.send(protocol.modelGet());
};

// The menu as the server last described it; `force` redraws it even when unchanged
// (after a refused choice the umenu shows the user's pick, not the server's).
Session.prototype.emitModels = function (force) {
    this.modelMenu = protocol.modelMenu(this.models.names, this.models.selected);
    var key = this.modelMenu.items.join("\n") + "\n" + this.modelMenu.index;
    if (force || key !== this.modelMenuKey) {
        this.modelMenuKey = key;
        this.emit({ kind: "models", items: this.modelMenu.items, index: this.modelMenu.index });
    }
};

// Choose a model for the next jobs by name (a registry name or a model file); the server checks it.
Session.prototype.selectModel = function (name) {
    var model = String(name || "");
    if (!model) {
        return null;
    }
    var message = protocol.modelSet(model);
    this.send(message);
    var waiting = this.conn.state === "connected" ? "" : " (the server has not answered yet)";
    this.status("Selecting model " + protocol.baseName(model) + " ..." + waiting);
    return message;
};

// The user picked item `index` of the model menu. Sent even when it is the current model:
// choosing it again is how the server is told to retry a model that failed to load.
Session.prototype.chooseModel = function (index) {
    var k = Number(index);
    if (!(k >= 0 && k < this.modelMenu.values.length)) {
        return null;
    }
    return this.selectModel(this.modelMenu.values[k]);
};

Session.prototype.on_model_list = function (ev) {
    this.models.names = ev.names;
    this.emitModels(false);
};

Session.prototype.on_model_get = function (ev) {
    this.models.selected = ev.model;
    this.models.configured = ev.configured;
    this.emitModels(false);
};

Session.prototype.on_model_set = function (ev) {
    this.models.selected = ev.model;
    this.emitModels(false);
    this.status("Model for the next jobs: " + this.modelMenu.items[this.modelMenu.index]);
};

Session.prototype.on_param_list = function (ev) {
    var missing = protocol.missingKeys(ev.names);
    if (missing.length) {
        this.status("This server does not know " + missing.join(", ") + ": update jbdiff on the server " +
                    "(or use an older device)");
    }
};

Session.prototype.on_status = function (ev) {
    this.markAlive(ev.items.version);
    this.model = String(ev.items.model || "");
    if (ev.items.model_name !== undefined && String(ev.items.model_name) !== "" &&
            String(ev.items.model_name) !== this.models.selected) {
        this.models.selected = String(ev.items.model_name);   // another client may have chosen it
        this.emitModels(false);
    }
    if (this.activeJobIds().length === 0 && this.pending.length === 0) {
        this.status(protocol.formatStatus(ev.items));
    }
};

Session.prototype.mine = function (ev) {
    return Object.prototype.hasOwnProperty.call(this.jobs, ev.jobId) ? this.jobs[ev.jobId] : null;
};

Session.prototype.on_accepted = function (ev) {
    var entry = null;
    for (var k = 0; k < this.pending.length; k++) {
        if (this.pending[k].tag === ev.tag) {
            entry = this.pending.splice(k, 1)[0];
            break;
        }
    }
    if (entry === null) {
        return;                                      // another client's job
    }
    this.jobs[ev.jobId] = { tag: ev.tag, state: "queued", stage: "", fraction: 0, seeds: entry.seeds };
    this.order.push(ev.jobId);
    if (entry.cancel) {
        this.send(protocol.cancel(ev.jobId));
    }
    this.status("Queued as " + ev.jobId);
    this.emitBusy();
};

Session.prototype.on_started = function (ev) {
    var job = this.mine(ev);
    if (job) {
        job.state = "running";
        this.status("Started " + ev.jobId);
    }
};

Session.prototype.on_progress = function (ev) {
    var job = this.mine(ev);
    if (job && ACTIVE[job.state]) {
        job.state = "running";
        job.stage = ev.stage;
        job.fraction = Math.max(job.fraction, ev.fraction);
        this.emit({ kind: "progress", fraction: job.fraction });
        this.status(protocol.formatProgress(ev));
    }
};

Session.prototype.finish = function (jobId, state) {
    this.jobs[jobId].state = state;
    this.emitBusy();
};

Session.prototype.on_done = function (ev) {
    var job = this.mine(ev);
    if (!job || job.state === "done") {
        return;
    }
    var item = {
        jobId: ev.jobId,
        path: ev.path,
        localPath: protocol.toLocalPath(ev.path, this.share),
        seconds: ev.seconds,
        seeds: job.seeds
    };
    this.recents = protocol.addRecent(this.recents, item, this.recentLimit);
    this.finish(ev.jobId, "done");
    this.emit({ kind: "progress", fraction: 1 });
    this.emit({ kind: "recents", items: this.recents.map(protocol.formatRecent) });
    this.status("Done " + ev.jobId + ": " + protocol.baseName(item.localPath) + " (" +
                Number(ev.seconds).toFixed(1) + " s)");
    this.emit({ kind: "result", item: item, insert: this.values.auto_insert === 1 });
};

Session.prototype.on_failed = function (ev) {
    if (this.mine(ev)) {
        this.finish(ev.jobId, "failed");
        this.emit({ kind: "progress", fraction: 0 });
        this.status("Failed " + ev.jobId + ": " + ev.reason);
    }
};

Session.prototype.on_cancelled = function (ev) {
    if (this.mine(ev)) {
        this.finish(ev.jobId, "cancelled");
        this.emit({ kind: "progress", fraction: 0 });
        this.status("Cancelled " + ev.jobId);
    }
};

Session.prototype.on_interrupted = function (ev) {
    if (this.mine(ev)) {
        this.jobs[ev.jobId].state = "queued";
        this.status("The server stopped during " + ev.jobId + "; it runs again when the server restarts");
    }
};

Session.prototype.on_requeued = function (ev) {
    if (this.mine(ev)) {
        this.jobs[ev.jobId].state = "queued";
        this.status(ev.jobId + " is queued again (the server restarted, or another worker takes it)");
    }
};

Session.prototype.on_cancel = function (ev) {
    if (ev.all) {
        this.status("Cancelled " + ev.count + " job(s)");
    } else if (this.mine(ev) && ev.state === "cancelling") {
        this.status("Cancelling " + ev.jobId + " (stops within one step) ...");
    }
};

Session.prototype.on_error = function (ev) {
    if (ev.address === protocol.ADDRESS.generate && this.pending.length > 0) {
        this.pending.shift();                         // the oldest request is the one refused
        this.emitBusy();
    }
    if (ev.address === protocol.ADDRESS.modelSet) {
        this.emitModels(true);                        // the menu goes back to the model still selected
    }
    this.status(protocol.formatError(ev));
};

Session.prototype.on_malformed = function (ev) {
    this.status("Unreadable message from the server (" + ev.address + "): " + ev.reason);
};

// The Max glue reports what became of a result: {action: slot|new_scene, index} or {action: manual, reason}.
Session.prototype.inserted = function (item, outcome) {
    if (outcome.action === "slot" || outcome.action === "new_scene") {
        this.status("Inserted " + protocol.baseName(item.localPath) + " in clip slot " + (outcome.index + 1));
    } else {
        this.status("Drag it in from the results list: " + item.localPath + " (" + outcome.reason + ")");
    }
};

Session.prototype.recent = function (index) {
    return index >= 0 && index < this.recents.length ? this.recents[index] : null;
};

exports.Session = Session;
