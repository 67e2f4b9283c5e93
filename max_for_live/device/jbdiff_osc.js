// OSC 1.0 message encoding and decoding for Node (the device's tests and any Node client).
//
// Inside Live the patch's [udpsend] and [udpreceive] do this job, so Max never loads this
// file; it exists so the device's own message builders and reply parsers can talk to a real
// server over UDP from Node without any npm package. Messages are plain objects:
//   { address: "/jbdiff/ping", args: [ { type: "i", value: 3 }, ... ] }
// Supported argument types: i (int32), f (float32), d (float64), s (string), b (blob),
// h (int64, decoded to a Number), T, F, N (no data). Bundles are decoded (flattened) but
// never built: the device sends single messages.
"use strict";

var BUNDLE_TAG = "#bundle";

function pad4(n) {
    return (n + 3) & ~3;
}

function encodeString(text) {
    var raw = Buffer.from(String(text), "utf8");
    var out = Buffer.alloc(pad4(raw.length + 1));
    raw.copy(out, 0);
    return out;
}

function encodeArg(arg) {
    var buf;
    switch (arg.type) {
    case "i":
        if (typeof arg.value !== "number" || Math.floor(arg.value) !== arg.value ||
                arg.value < -2147483648 || arg.value > 2147483647) {
            throw new Error("OSC int32 argument out of range: " + arg.value);
        }
        buf = Buffer.alloc(4);
        buf.writeInt32BE(arg.value, 0);
        return buf;
    case "f":
        if (typeof arg.value !== "number" || !isFinite(arg.value)) {
            throw new Error("OSC float argument must be a finite number: " + arg.value);
        }
        buf = Buffer.alloc(4);
        buf.writeFloatBE(arg.value, 0);
        return buf;
    case "d":
        buf = Buffer.alloc(8);
        buf.writeDoubleBE(arg.value, 0);
        return buf;
    case "s":
        if (typeof arg.value !== "string") {
            throw new Error("OSC string argument must be a string: " + arg.value);
        }
        return encodeString(arg.value);
    case "b":
        var data = Buffer.from(arg.value);
        buf = Buffer.alloc(4 + pad4(data.length));
        buf.writeInt32BE(data.length, 0);
        data.copy(buf, 4);
        return buf;
    case "T":
    case "F":
    case "N":
        return Buffer.alloc(0);
    default:
        throw new Error("unsupported OSC type tag: " + arg.type);
    }
}

// One message -> the bytes of one UDP datagram.
function encodeMessage(message) {
    if (typeof message.address !== "string" || message.address.charAt(0) !== "/") {
        throw new Error("an OSC address starts with '/': " + message.address);
    }
    var args = message.args || [];
    var tags = ",";
    var parts = [encodeString(message.address)];
    var encoded = [];
    for (var i = 0; i < args.length; i++) {
        tags += args[i].type;
        encoded.push(encodeArg(args[i]));
    }
    parts.push(encodeString(tags));
    return Buffer.concat(parts.concat(encoded));
}

function readString(buf, offset) {
    var end = offset;
    while (end < buf.length && buf[end] !== 0) {
        end++;
    }
    if (end >= buf.length) {
        throw new Error("OSC string is not terminated");
    }
    return { value: buf.toString("utf8", offset, end), next: pad4(end + 1) };
}

function need(buf, offset, n) {
    if (offset + n > buf.length) {
        throw new Error("OSC message is truncated");
    }
}

function decodeMessageAt(buf) {
    var address = readString(buf, 0);
    var offset = address.next;
    var args = [];
    if (offset >= buf.length) {
        return { address: address.value, args: args };
    }
    var tags = readString(buf, offset);
    offset = tags.next;
    if (tags.value.charAt(0) !== ",") {
        throw new Error("OSC type tags start with ','");
    }
    for (var i = 1; i < tags.value.length; i++) {
        var type = tags.value.charAt(i);
        if (type === "i") {
            need(buf, offset, 4);
            args.push({ type: "i", value: buf.readInt32BE(offset) });
            offset += 4;
        } else if (type === "f") {
            need(buf, offset, 4);
            args.push({ type: "f", value: buf.readFloatBE(offset) });
            offset += 4;
        } else if (type === "d") {
            need(buf, offset, 8);
            args.push({ type: "d", value: buf.readDoubleBE(offset) });
            offset += 8;
        } else if (type === "h") {
            need(buf, offset, 8);
            args.push({ type: "h", value: Number(buf.readBigInt64BE(offset)) });
            offset += 8;
        } else if (type === "s") {
            var s = readString(buf, offset);
            args.push({ type: "s", value: s.value });
            offset = s.next;
        } else if (type === "b") {
            need(buf, offset, 4);
            var size = buf.readInt32BE(offset);
            need(buf, offset + 4, size);
            args.push({ type: "b", value: buf.slice(offset + 4, offset + 4 + size) });
            offset += 4 + pad4(size);
        } else if (type === "T" || type === "F") {
            args.push({ type: type, value: type === "T" });
        } else if (type === "N") {
            args.push({ type: "N", value: null });
        } else {
            throw new Error("unsupported OSC type tag: " + type);
        }
    }
    return { address: address.value, args: args };
}

// One datagram -> a list of messages (a bundle's elements, flattened).
function decodePacket(buf) {
    if (buf.length >= 8 && buf.toString("ascii", 0, 7) === BUNDLE_TAG && buf[7] === 0) {
        var out = [];
        var offset = 16;                          // "#bundle\0" and the 8-byte time tag
        while (offset < buf.length) {
            need(buf, offset, 4);
            var size = buf.readInt32BE(offset);
            need(buf, offset + 4, size);
            out = out.concat(decodePacket(buf.slice(offset + 4, offset + 4 + size)));
            offset += 4 + size;
        }
        return out;
    }
    if (buf[0] !== 0x2f) {
        throw new Error("not an OSC packet (an address starts with '/')");
    }
    return [decodeMessageAt(buf)];
}

// The values of a decoded message, as Max's [udpreceive] would hand them over.
function values(message) {
    return message.args.map(function (a) { return a.value; });
}

exports.encodeMessage = encodeMessage;
exports.decodePacket = decodePacket;
exports.values = values;
