// Plays the device's side against a running `jbdiff serve` over loopback UDP: the same Session,
// message builders and reply parsers as in Live, with a Node socket where Max has [udpsend] and
// [udpreceive]. Run by tests/test_max_for_live.py; prints one JSON summary on stdout.
//
//   node e2e_client.js --port 9130 --context <wav in the drop folder> --outside <wav elsewhere>
//                      --modelfile <name of a file in the server's models folder>
"use strict";

const dgram = require("node:dgram");
const path = require("node:path");
const { DEVICE } = require("./helpers");

const osc = require(path.join(DEVICE, "jbdiff_osc.js"));
const { Session } = require(path.join(DEVICE, "jbdiff_session.js"));

function options(argv) {
    const out = { host: "127.0.0.1", port: 9130, timeout: 45 };
    for (let k = 0; k < argv.length; k += 2) {
        out[argv[k].replace(/^--/, "")] = argv[k + 1];
    }
    out.port = Number(out.port);
    out.timeout = Number(out.timeout);
    return out;
}

async function main() {
    const opts = options(process.argv.slice(2));
    const socket = dgram.createSocket("udp4");
    await new Promise((resolve) => socket.bind(0, "127.0.0.1", resolve));
    const log = [];
    const waiters = [];
    function notify(ev) {
        log.push(ev);
        for (const w of waiters.slice()) {
            if (w.match(ev)) {
                waiters.splice(waiters.indexOf(w), 1);
                w.resolve(ev);
            }
        }
    }
    const session = new Session({
        send: (m) => socket.send(osc.encodeMessage(m), opts.port, opts.host),
        emit: notify,
        instance: "m4l-e2e",
    });
    socket.on("message", (data) => {
        for (const m of osc.decodePacket(data)) {
            const ev = session.receive(m.address, osc.values(m));
            notify({ kind: "reply", reply: ev });                  // what the server said, as the device read it
        }
    });
    const deadline = Date.now() + opts.timeout * 1000;
    function waitFor(what, match, since) {
        const earlier = since === undefined ? undefined : log.slice(since).find(match);
        if (earlier) {
            return Promise.resolve(earlier);
        }
        return new Promise((resolve, reject) => {
            const timer = setTimeout(() => reject(new Error(`no ${what} in time; last events: ` +
                JSON.stringify(log.filter((ev) => ev.kind !== "reply").slice(-12)))), Math.max(0, deadline - Date.now()));
            waiters.push({ match, resolve: (ev) => { clearTimeout(timer); resolve(ev); } });
        });
    }
    const ticker = setInterval(() => session.tick(), 250);
    const summary = { replyPort: socket.address().port };
    try {
        session.setValue("reply_port", socket.address().port);       // also says hello on it
        session.setValue("port", opts.port);
        const connected = await waitFor("connection", (ev) => ev.kind === "connection" && ev.state === "connected");
        summary.connection = connected.text;
        summary.serverStatus = (await waitFor("model ready", (ev) => ev.kind === "status" && /model ready/.test(ev.text))).text;

        // 0. the model menu: filled from /jbdiff/model/list and /get after hello; a bad name is
        //    refused with a hint; a file in the models folder; back to tiny; asked again
        const reply = (kind) => (ev) => ev.kind === "reply" && ev.reply.kind === kind;
        await waitFor("model list", reply("model_list"), 0);
        await waitFor("model get", reply("model_get"), 0);
        const menu = log.filter((ev) => ev.kind === "models").slice(-1)[0];
        summary.modelMenu = { items: menu.items, index: menu.index };
        const isStatus = (prefix) => (ev) => ev.kind === "status" && ev.text.startsWith(prefix);
        session.selectModel("no-such-model");
        summary.modelRefused = (await waitFor("model error", isStatus("Error"))).text;
        session.chooseModel(menu.items.indexOf(opts.modelfile));
        summary.modelFile = {
            status: (await waitFor("model set", isStatus("Model for the next jobs"))).text,
            selected: session.models.selected,
            shown: session.modelMenu.items[session.modelMenu.index],
        };
        session.chooseModel(menu.items.indexOf("tiny"));
        summary.modelTiny = (await waitFor("model set", isStatus("Model for the next jobs: tiny"))).text;
        const asked = log.length;
        session.requestModels();
        const got = await waitFor("model get", reply("model_get"), asked);
        summary.modelGet = { model: got.reply.model, configured: got.reply.configured,
                             shown: session.modelMenu.items[session.modelMenu.index] };

        // 1. a context outside the drop folder: the server refuses, the device explains
        session.setFile("context", opts.outside);
        session.generate();
        summary.refused = (await waitFor("error", (ev) => ev.kind === "status" && ev.text.startsWith("Error"))).text;

        // 2. a real job: context from the drop folder, locked seeds, few steps
        session.setFile("context", opts.context);
        for (const [name, value] of [["seconds", 1.0], ["steps_2", 8], ["steps_1", 8], ["steps_0", 8],
                                      ["steps_dd", 8], ["lock_seeds", 1], ["noise_seed", 4242],
                                      ["dd_noise_seed", 77], ["token_multiplier", 2]]) {
            session.setValue(name, value);
        }
        session.setTrackName("e2e take");
        const start = log.length;
        session.generate();
        const result = await waitFor("result", (ev) => ev.kind === "result");
        const during = log.slice(start);
        summary.done = {
            item: result.item,
            progress: during.filter((ev) => ev.kind === "progress").map((ev) => ev.fraction),
            statuses: during.filter((ev) => ev.kind === "status").map((ev) => ev.text),
        };

        // 3. a long job, cancelled once it renders
        session.setValue("seconds", 4.0);
        for (const name of ["steps_2", "steps_1", "steps_0", "steps_dd"]) {
            session.setValue(name, 400);
        }
        session.generate();
        await waitFor("progress", (ev) => ev.kind === "progress" && ev.fraction > 0);
        session.cancel();
        summary.cancelled = (await waitFor("cancelled", (ev) => ev.kind === "status" && /^Cancelled j/.test(ev.text))).text;
        summary.recents = session.recents.map((r) => r.jobId);
        process.stdout.write(JSON.stringify(summary));
        process.exitCode = 0;
    } catch (e) {
        process.stdout.write(JSON.stringify({ ...summary, failure: e.message }));
        process.exitCode = 2;
    } finally {
        clearInterval(ticker);
        socket.close();
    }
}

main();
