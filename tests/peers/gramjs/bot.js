// A stock GramJS bot: signs in with a bot token, reads bin-channel messages and downloads
// one's document. It is told only where the DCs are and the server's RSA key, the two things
// a client needs to talk to another MTProto server; GramJS itself is used as published.
//
// usage: node bot.js SETTINGS.json OUT_FILE   (prints one JSON line with what it saw)
"use strict";
const fs = require("fs");
const bigInt = require("big-integer");
const { TelegramClient, Api } = require("telegram");
const { MemorySession } = require("telegram/sessions");
const { LAYER } = require("telegram/tl/AllTLObjects");
const RSA = require("telegram/crypto/RSA");
const { ConnectionTCPFull } = require("telegram/network");

async function main() {
    const settings = JSON.parse(fs.readFileSync(process.argv[2], "utf8"));
    const out = process.argv[3];
    // GramJS looks the server's key up by its fingerprint (a signed 64-bit decimal).
    RSA._serverKeys.set(settings.rsa_fingerprint, { n: bigInt(settings.rsa_n), e: settings.rsa_e });
    const dcs = settings.dcs;
    // A memory session: StringSession stores a port in 16 signed bits (the DCs here are
    // on high loopback ports), and a peer check keeps nothing between runs anyway.
    const session = new MemorySession();
    session.setDC(settings.home_dc, dcs[settings.home_dc].host, dcs[settings.home_dc].port);
    // GramJS dials port 80 for every DC (its `connection` option is the class that dials,
    // as Kurigram's connection_factory is); the emulator's DCs listen on their own ports.
    class EmulatorConnection extends ConnectionTCPFull {
        constructor(params) {
            super({ ...params, port: dcs[params.dcId].port });
        }
    }
    const client = new TelegramClient(session, settings.api_id, settings.api_hash, {
        connection: EmulatorConnection,
        connectionRetries: 2,
        useWSS: false,
    });
    client.setLogLevel(process.env.GRAMJS_LOG_LEVEL || "error");
    await client.start({ botAuthToken: settings.bot_token });
    const me = await client.getMe();
    const channel = new Api.InputPeerChannel({
        channelId: bigInt(settings.channel_id),
        accessHash: bigInt(0),
    });
    const messages = await client.getMessages(channel, { ids: settings.message_ids });
    const wanted = messages.find((m) => m && m.id === settings.download_id);
    const data = await client.downloadMedia(wanted, {});
    fs.writeFileSync(out, data);
    // The document's thumbnail, as GramJS lists it and fetches it (thumbSize).
    const thumbs = (wanted.media.document.thumbs || []).filter((t) => t instanceof Api.PhotoSize);
    if (thumbs.length) {
        fs.writeFileSync(out + ".thumb", await client.downloadMedia(wanted, { thumb: 0 }));
    }
    console.log(
        JSON.stringify({
            layer: LAYER,
            me: { id: me.id.toString(), bot: !!me.bot },
            messages: messages.map((m) => (m ? { id: m.id, text: m.message || "" } : null)),
            dc: wanted.media.document.dcId,
            size: data.length,
            thumbs: thumbs.map((t) => [t.w, t.h, t.size]),
        }),
    );
    await client.destroy();
}

main().then(
    () => process.exit(0),
    (error) => {
        console.error(error && error.stack ? error.stack : String(error));
        process.exit(1);
    },
);
