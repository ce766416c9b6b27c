// The life of a streamed reply (providers.md "Streaming requests", cp_exchange.c top comment), for an
// Anthropic-style provider (byte relay) and an OpenAI-style one (incremental translation): nothing sent
// before the upstream status, errors after the start as "event: error", pings during silence, idle
// timeout, resets, client disconnects (before and after the first byte) cancelling the upstream at once,
// backpressure against a client that does not read, keep-alive, 200 concurrent streams, the
// maxConcurrentRequests limit and the open-file limit log line.
import { describe, test, before, after, beforeEach } from 'node:test';
import assert from 'node:assert/strict';
import crypto from 'node:crypto';
import http from 'node:http';
import { request, startDaemon, waitFor } from './lib/daemon.mjs';
import { setupProxy } from './lib/proxy.mjs';
import { anthMessage, oaiCompletion } from './lib/mock-upstream.mjs';
import {
  openStream, assertCompleteStream, assertErrorStream, streamedText, realEvents, anthTextEvents, anthStart,
  oaiTextChunks, oaiChunk, piece, rssBytes, isAsan, logLines, sleep, bigSource,
} from './lib/stream.mjs';

const ANTH_KEY = 'sk-ant-prov-SECRET-lifecycle';
const OAI_KEY = 'sk-prov-SECRET-lifecycle';
const DISCONNECT_LIMIT_MS = 500; // target 100 ms; 500 keeps it robust under ASan

let env;
let main;

before(async () => {
  env = await setupProxy({
    settings: ({ main: m }) => ({
      server: { pingIntervalSeconds: 1 },
      providers: {
        anth: { baseURL: m.url, responseStyle: 'anthropic', apiKey: ANTH_KEY },
        anthidle: { baseURL: `${m.url}/idle`, responseStyle: 'anthropic', apiKey: ANTH_KEY, idleTimeoutMs: 1000 },
        oai: { baseURL: `${m.url}/v1`, apiKey: OAI_KEY },
        oaiidle: { baseURL: `${m.url}/idle/v1`, apiKey: OAI_KEY, idleTimeoutMs: 1000 },
      },
      models: { bigModel: 'big@oai', smallModel: 'small@oai', preferredProvider: 'oai' },
    }),
  });
  ({ main } = env);
});
after(async () => {
  // d.stop() is safe with an upstream transfer still finishing ('SIGTERM right after a stream' below)
  if (env) await env.close();
});
beforeEach(() => env.resetMocks());

const ctx = () => `\n--- daemon stderr (tail) ---\n${env.stderrTail()}`;
const body = (model, extra = {}) => ({ model, max_tokens: 256, stream: true, messages: [{ role: 'user', content: 'Hello' }], ...extra });

const STYLES = {
  anthropic: {
    model: 'claude-x@anth',
    prov: 'anth',
    cutShort: 'provider anth ended its stream before message_stop', // the body ended cleanly, unfinished
    idleModel: 'claude-x@anthidle',
    path: /^\/v1\/messages$/,
    complete: (pieces) => anthTextEvents(pieces, { ping: false }),
    opened: (pieces) => anthTextEvents(pieces, { finish: false, ping: false }),
    errorBody: (type, message) => ({ type: 'error', error: { type, message } }),
  },
  openai: {
    model: 'gpt-x@oai',
    prov: 'oai',
    cutShort: 'provider oai stream ended before the answer finished',
    idleModel: 'gpt-x@oaiidle',
    path: /^\/v1\/chat\/completions$/,
    complete: (pieces) => oaiTextChunks(pieces),
    opened: (pieces) => oaiTextChunks(pieces, { finish: null }),
    errorBody: (type, message) => ({ error: { message, type: type === 'rate_limit_error' ? 'requests' : 'server_error', code: null } }),
  },
};

function expectedBigTextHash(n, len) {
  const h = crypto.createHash('sha256');
  for (let i = 0; i < n; i++) h.update(piece(i, len));
  return h.digest('hex');
}

/** Wait until the mock's request <i> saw its connection closed by ccproxy; returns the record. */
function upstreamClosed(i = 0, timeoutMs = 3000) {
  return main.waitFor((r) => r[i] && r[i].clientClosed && r[i], { timeoutMs, what: `ccproxy to close upstream request ${i}` });
}

async function activeIsZero() {
  await waitFor(async () => (await request(env.d.port, { path: '/health' })).json?.active === 0,
    { timeoutMs: 2000, what: 'no request left active in /health' });
}

for (const [style, S] of Object.entries(STYLES)) {
  describe(`${style}-style upstream`, () => {
    for (const [up, type, headers] of [[429, 'rate_limit_error', { 'retry-after': '7' }], [500, 'api_error', {}]]) {
      test(`upstream ${up} to a streaming request → plain JSON ${up} ${type}, no byte before the upstream status`, async () => {
        main.enqueue({ delayMs: 600, status: up, headers, json: S.errorBody(type, `upstream says ${up}`) });
        const s = openStream(env.d.port, body(S.model));
        const r = await s.done;
        const c = `\nstatus=${r.status} headers=${JSON.stringify(r.headers)} body=${r.text}${ctx()}`;
        assert.ok(r.tHead - s.t0 >= 550, `the reply head came ${r.tHead - s.t0} ms after the request, before the upstream's status (600 ms)${c}`);
        assert.equal(r.status, up, `mapped status${c}`);
        assert.match(String(r.headers['content-type']), /^application\/json\b/, `a JSON error, not SSE${c}`);
        assert.ok(!/^event:/m.test(r.text), `no SSE in the body${c}`);
        let j;
        try { j = JSON.parse(r.text); } catch { assert.fail(`body is not JSON${c}`); }
        assert.equal(j.type, 'error', c);
        assert.equal(j.error.type, type, c);
        assert.ok(j.error.message.includes(`upstream says ${up}`), `upstream message kept${c}`);
        if (up === 429) assert.equal(r.headers['retry-after'], '7', `retry-after copied${c}`);
        assert.ok(!r.text.includes(ANTH_KEY) && !r.text.includes(OAI_KEY), c);
        const rec = await main.waitForRequests(1);
        assert.match(rec.path, S.path);
        assert.equal(rec.json.stream, true, 'the upstream is asked to stream');
      });
    }

    test('a complete stream: well-formed events, the text intact', async () => {
      const pieces = ['Hello', ', ', 'stream ', 'wörld ✓ 😀'];
      main.enqueue({ chunks: S.complete(pieces), gapMs: 5 });
      const r = await openStream(env.d.port, body(S.model)).done;
      assert.equal(r.status, 200, r.text + ctx());
      assert.match(String(r.headers['content-type']), /^text\/event-stream/);
      assert.ok(r.complete, `the body ended cleanly${ctx()}`);
      const msg = assertCompleteStream(r.text, { ctx: ctx() });
      assert.deepEqual(msg.content.map((b) => [b.type, b.text]), [['text', pieces.join('')]]);
      assert.equal(msg.stop_reason, 'end_turn');
    });

    test('an upstream that ignores "stream" and answers JSON → the client still gets a complete event stream', async () => {
      const answer = style === 'anthropic'
        ? anthMessage({ content: [{ type: 'text', text: 'whole answer' }] })
        : oaiCompletion({ content: 'whole answer' });
      main.enqueue({ json: answer, noAutoStream: true });
      const r = await openStream(env.d.port, body(S.model)).done;
      const c = `\nstatus=${r.status} content-type=${r.headers['content-type']}\nbody=${r.text.slice(0, 600)}${ctx()}`;
      assert.equal(r.status, 200, c);
      assert.match(String(r.headers['content-type']), /^text\/event-stream/, `a streaming request gets an event stream${c}`);
      const msg = assertCompleteStream(r.text, { ctx: c });
      assert.equal(msg.content[0].text, 'whole answer');
    });

    if (style === 'anthropic') {
      test('relay is byte for byte: the client receives exactly the upstream SSE bytes', async () => {
        const chunks = anthTextEvents(['Hel', 'lo ', 'wörld ✓', ' 😀 done'], { ping: true });
        chunks.splice(3, 0, ': a comment line\n\n'); // comments and odd spacing stay as they are
        chunks.push('event: something_new\ndata: {"type":"something_new","x":1}\n\n');
        main.enqueue({ chunks, gapMs: 5 });
        const r = await openStream(env.d.port, body(S.model)).done;
        assert.equal(r.status, 200, r.text + ctx());
        const rec = main.requests[0];
        const sent = Buffer.concat(rec.sentBuffers);
        assert.ok(r.buf.equals(sent), `bytes differ\nsent: ${JSON.stringify(sent.toString())}\ngot:  ${JSON.stringify(r.text)}${ctx()}`);
      });

      test('relay: multibyte characters split across upstream chunks arrive intact', async () => {
        const ev = anthTextEvents(['Grüße, ', '世界 ', '😀😀'], { ping: false });
        const whole = Buffer.from(ev.map((e) => `event: ${e.event}\ndata: ${JSON.stringify(e.data)}\n\n`).join(''));
        const parts = [];
        for (let i = 0; i < whole.length; i += 7) parts.push(whole.subarray(i, Math.min(i + 7, whole.length)));
        main.enqueue({ chunks: parts, gapMs: 2 });
        const r = await openStream(env.d.port, body(S.model)).done;
        assert.ok(r.buf.equals(whole), `bytes differ${ctx()}`);
        assert.equal(assertCompleteStream(r.text).content[0].text, 'Grüße, 世界 😀😀');
      });

      test('relay: a silence in the middle of an upstream event gets no ping inside the event', async () => {
        const ev = anthTextEvents(['one ', 'two'], { ping: false });
        const wire = (e) => `event: ${e.event}\ndata: ${JSON.stringify(e.data)}\n\n`;
        const split = wire(ev[3]); // the "two" delta, cut in the middle of its JSON
        const cut = split.indexOf('"delta"');
        main.enqueue({ chunks: [...ev.slice(0, 3), split.slice(0, cut), { pauseMs: 2300 }, split.slice(cut), ...ev.slice(4)], gapMs: 5 });
        const r = await openStream(env.d.port, body(S.model)).done;
        const sent = Buffer.concat(main.requests[0].sentBuffers).toString('utf8');
        // a ping may only stand between events: at the start or right after a blank line
        const re = /event: ping\ndata: \{"type": ?"ping"\}\n\n/g;
        for (let m = re.exec(r.text); m; m = re.exec(r.text)) {
          assert.ok(m.index === 0 || r.text.slice(m.index - 2, m.index) === '\n\n', `a ping inside a relayed event at ${m.index}:\n${r.text}`);
        }
        assert.equal(r.text.replace(re, ''), sent, 'relayed bytes intact');
        assert.equal(assertCompleteStream(r.text, { ctx: ctx() }).content[0].text, 'one two');
      });

      test('relay: a stall past idleTimeoutMs in the middle of an event → the cut event is closed, then event: error', async () => {
        const ev = anthTextEvents(['one '], { ping: false });
        const half = `event: content_block_delta\ndata: {"type":"content_block_delta","index":0,"delta":{"type":"text_`;
        main.enqueue({ chunks: [...ev.slice(0, 4), half], gapMs: 5, hang: true });
        const r = await openStream(env.d.port, body(S.idleModel)).done;
        assert.equal(r.status, 200, ctx());
        const err = assertErrorStream(r.text, 'timeout_error', ctx());
        assert.ok(r.text.includes(`${half}\n\nevent: error\n`), `the error event starts on its own after the cut event:\n${r.text}`);
        assert.ok(err.message.length > 0);
        await upstreamClosed(0, 2000);
      });
    }

    test('upstream keeps its connection open after the final event → the client stream ends at once, nothing after message_stop', async () => {
      main.enqueue({ chunks: S.complete(['done ', 'already']), gapMs: 2, hang: true });
      const s = openStream(env.d.port, body(S.model), { timeoutMs: 8000 });
      await s.waitFor((t, evs) => evs.some((e) => e.event === 'message_stop'), 5000, 'message_stop');
      const tStop = Date.now();
      const r = await Promise.race([s.done, sleep(1500).then(() => null)]);
      const c = `\nreceived:\n${s.text()}${ctx()}`;
      if (!r) s.destroy(); // do not leave it to the other tests
      assert.ok(r, `the reply did not end within 1.5 s of message_stop (upstream left its connection open)${c}`);
      assert.ok(r.complete, c);
      assert.ok(r.tEnd - tStop < 1000, `ended ${r.tEnd - tStop} ms after message_stop${c}`);
      assert.equal(assertCompleteStream(r.text, { ctx: c }).content[0].text, 'done already');
      await upstreamClosed(0, 2000);
      await activeIsZero();
    });

    test('upstream body ends cleanly before the stream finished → event: error, no message_stop', async () => {
      main.enqueue({ chunks: S.opened(['partial ', 'answer']), gapMs: 5 });
      const r = await openStream(env.d.port, body(S.model)).done;
      assert.equal(r.status, 200, r.text + ctx());
      const err = assertErrorStream(r.text, 'api_error', ctx());
      assert.equal(streamedText(r.events), 'partial answer', `what arrived before the error is relayed${ctx()}`);
      assert.equal(err.message, S.cutShort);
    });

    test('upstream connection closes mid-body (no chunked terminator) → event: error', async () => {
      main.enqueue({ chunks: S.opened(['partial ', 'answer']), gapMs: 5, destroyAfter: true });
      const r = await openStream(env.d.port, body(S.model)).done;
      assert.equal(r.status, 200, r.text + ctx());
      const err = assertErrorStream(r.text, 'api_error', ctx());
      assert.equal(err.message, `provider ${S.prov} unreachable (the transfer failed)`);
    });

    test('upstream resets mid-stream → event: error', async () => {
      // the pause lets ccproxy read everything before the RST (an RST discards unread data in the kernel)
      main.enqueue({ chunks: [...S.opened(['before ', 'the reset']), { pauseMs: 150 }], gapMs: 5, resetAfter: true });
      const r = await openStream(env.d.port, body(S.model)).done;
      assert.equal(r.status, 200, r.text + ctx());
      const err = assertErrorStream(r.text, 'api_error', ctx());
      assert.equal(streamedText(r.events), 'before the reset');
      assert.equal(err.message, `provider ${S.prov} unreachable (the transfer failed)`);
      assert.ok(env.d.alive(), 'daemon alive');
    });

    test('pings: pingIntervalSeconds 1, upstream silent 2.5 s mid-stream → ping events, then the stream completes', async () => {
      const first = S.opened(['before ', 'the pause']);
      const full = S.complete(['before ', 'the pause', ' and after']); // = first + [' and after', ...finish]
      main.enqueue({ chunks: [...full.slice(0, first.length), { pauseMs: 2500 }, ...full.slice(first.length)], gapMs: 5 });
      const r = await openStream(env.d.port, body(S.model)).done;
      assert.equal(r.status, 200, r.text + ctx());
      const msg = assertCompleteStream(r.text, { ctx: ctx() });
      assert.equal(msg.content[0].text, 'before the pause and after');
      const evs = r.events;
      const pings = evs.map((e, i) => [e, i]).filter(([e]) => e.event === 'ping');
      assert.ok(pings.length >= 1 && pings.length <= 4, `1-4 ping events during a 2.5 s silence, got ${pings.length}${ctx()}\n${r.text}`);
      const firstAfter = evs.findIndex((e) => e.event === 'content_block_delta' && e.data.delta.text === ' and after');
      const lastBefore = evs.findIndex((e) => e.event === 'content_block_delta' && e.data.delta.text === 'the pause');
      assert.ok(pings.every(([, i]) => i > lastBefore && i < firstAfter), `the pings came during the silence: ${r.text}`);
      assert.deepEqual(pings[0][0].data, { type: 'ping' });
      if (style === 'anthropic') {
        const sent = Buffer.concat(main.requests[0].sentBuffers).toString('utf8');
        const withoutPings = r.text.replace(/event: ping\ndata: \{"type": ?"ping"\}\n\n/g, '');
        assert.equal(withoutPings, sent, 'the relayed bytes are unchanged apart from whole ping events inserted between events');
      }
    });

    test('upstream stalls past idleTimeoutMs (1000) after starting → event: error timeout_error, upstream closed', async () => {
      main.enqueue({ chunks: S.opened(['started ']), hang: true });
      const s = openStream(env.d.port, body(S.idleModel));
      await s.waitFor((t, evs) => streamedText(evs) === 'started ', 5000, 'the first text');
      const t1 = Date.now();
      const r = await s.done;
      const dt = r.tEnd - t1;
      assertErrorStream(r.text, 'timeout_error', ctx());
      assert.ok(dt >= 700 && dt < 4000, `the stream ended ${dt} ms after the upstream went silent (idleTimeoutMs 1000)${ctx()}`);
      await upstreamClosed(0, 2000);
      assert.match(main.requests[0].path, /^\/idle\//);
    });

    test(`client leaves mid-stream → upstream connection closed within ${DISCONNECT_LIMIT_MS} ms`, async () => {
      main.enqueue({ chunks: S.opened(['one ', 'two ']), gapMs: 5, hang: true });
      const s = openStream(env.d.port, body(S.model));
      await s.waitFor((t, evs) => streamedText(evs) === 'one two ', 5000, 'the streamed text');
      await sleep(50);
      assert.equal(main.requests[0].clientClosed, false, 'upstream still open while the client reads');
      const t0 = Date.now();
      s.destroy();
      const rec = await upstreamClosed(0, 3000);
      const dt = rec.closedAt - t0;
      console.log(`# ${style}: upstream closed ${dt} ms after the client left mid-stream`);
      assert.ok(dt <= DISCONNECT_LIMIT_MS, `upstream closed ${dt} ms after the client left (limit ${DISCONNECT_LIMIT_MS})${ctx()}`);
      await activeIsZero();
    });

    test(`client leaves before the first byte (upstream hangs) → upstream connection closed within ${DISCONNECT_LIMIT_MS} ms`, async () => {
      main.enqueue({ hang: true });
      const s = openStream(env.d.port, body(S.model));
      await main.waitForRequests(1, 3000);
      await sleep(100);
      assert.equal(s.received(), 0, 'no reply yet');
      assert.equal(main.requests[0].clientClosed, false, 'upstream open while the client waits');
      const t0 = Date.now();
      s.destroy();
      const rec = await upstreamClosed(0, 3000);
      const dt = rec.closedAt - t0;
      console.log(`# ${style}: upstream closed ${dt} ms after the client left before the first byte`);
      assert.ok(dt <= DISCONNECT_LIMIT_MS, `upstream closed ${dt} ms after the client left (limit ${DISCONNECT_LIMIT_MS})${ctx()}`);
      await activeIsZero();
    });

    test('client never reads: the upstream transfer is paused (bounded bytes and memory), then resumes and completes intact', async () => {
      const N = 10000; // ~40 MB of text
      const LEN = 4000;
      main.enqueue({ source: bigSource(style, N, LEN) });
      const pid = env.d.proc.pid;
      // ASan keeps freed memory in its quarantine, so RSS there grows with what passed through, not with
      // what is buffered; the bytes-pushed bound below catches a daemon that does not pause either way.
      const rssLimit = isAsan(pid) ? 128 * 1048576 : 32 * 1048576;
      const rss0 = rssBytes(pid);
      const s = openStream(env.d.port, body(S.model), { pauseReading: true, timeoutMs: 60000 });
      try {
        const rec = await main.waitForRequests(1, 3000);
        // the state, not a delay: the upstream has been held back (its writes not taken) for a whole second
        await waitFor(() => rec.waitingSince !== null && Date.now() - rec.waitingSince >= 1000,
          { timeoutMs: 15000, intervalMs: 20, what: 'the upstream to be held back for 1 s' })
          .catch((e) => { throw new Error(`${e.message}: pushed ${rec.bytesSent} bytes, ccproxy did not pause the transfer${ctx()}`); });
        const pushed = rec.bytesSent;
        const rss1 = rssBytes(pid);
        console.log(`# ${style} never-reading client: upstream pushed ${(pushed / 1048576).toFixed(1)} MB before it was held back, ` +
          `client got ${(s.received() / 1048576).toFixed(2)} MB, daemon RSS ${(rss0 / 1048576).toFixed(1)} → ${(rss1 / 1048576).toFixed(1)} MB`);
        // the kernel's socket buffers on both sides hold 7-10 MB here; a daemon that does not pause takes all 40
        assert.ok(pushed < 20 * 1048576, `the upstream could push ${pushed} bytes to a client that reads nothing: ccproxy did not pause the transfer${ctx()}`);
        assert.ok(rss1 - rss0 < rssLimit, `daemon RSS grew by ${rss1 - rss0} bytes for a client that reads nothing (limit ${rssLimit})${ctx()}`);
        s.resumeReading();
        const r = await s.done;
        assert.equal(r.status, 200, ctx());
        assert.ok(r.complete, `the body ended cleanly${r.error ? ` (${r.error.message})` : ''}${ctx()}`);
        assert.ok(rec.bytesSent > 39e6, `the upstream sent everything after the resume (${rec.bytesSent})`);
        const msg = assertCompleteStream(r.text, { ctx: ctx() });
        const text = msg.content.map((b) => b.text).join('');
        assert.equal(text.length, N * LEN, 'all text arrived');
        assert.equal(crypto.createHash('sha256').update(text).digest('hex'), expectedBigTextHash(N, LEN), 'text intact, in order');
        if (style === 'anthropic') {
          // ccproxy's own pings may go out between relayed events while the transfer is paused (the
          // upstream sends none here): every other byte is the upstream's, in order
          const ping = 'event: ping\ndata: {"type": "ping"}\n\n';
          const pings = r.text.split(ping).length - 1;
          assert.equal(r.buf.length - pings * Buffer.byteLength(ping), rec.bytesSent, 'relay: every upstream byte arrived');
        }
      } finally {
        s.destroy(); // a no-op after a complete reply; on a failure, do not leave a paused stream to the other tests
      }
    });

    test('server.streamBufferBytes 64 MiB: a never-reading client no longer holds the upstream back (the whole 32 MB answer is taken in), then reads it intact', async (t) => {
      const N = 8000; // 32 MB: more than the kernel's socket buffers (7-10 MB) can hold
      const LEN = 4000;
      const d = await startDaemon({
        homeSettings: {
          server: { streamBufferBytes: 64 * 1048576 },
          providers: { anth: { baseURL: main.url, responseStyle: 'anthropic', apiKey: ANTH_KEY }, oai: { baseURL: `${main.url}/v1`, apiKey: OAI_KEY } },
        },
      });
      t.after(() => d.stop());
      main.enqueue({ source: bigSource(style, N, LEN) });
      const s = openStream(d.port, body(S.model), { pauseReading: true, timeoutMs: 60000 });
      t.after(() => s.destroy());
      const rec = await main.waitForRequests(1, 3000);
      await main.waitFor(() => rec.answered, { timeoutMs: 15000, what: 'the upstream to send its whole answer' })
        .catch((e) => { throw new Error(`${e.message}: pushed ${rec.bytesSent} bytes, held back ${rec.maxDrainWaitMs} ms at most (streamBufferBytes not applied?)\n${d.stderrText().slice(-2000)}`); });
      assert.ok(s.received() < rec.bytesSent / 2, `the client read little of it (${s.received()} of ${rec.bytesSent} bytes)`);
      s.resumeReading();
      const r = await s.done;
      assert.ok(r.complete, `the body ended cleanly${r.error ? ` (${r.error.message})` : ''}`);
      const text = assertCompleteStream(r.text).content.map((b) => b.text).join('');
      assert.equal(text.length, N * LEN, 'all text arrived');
      assert.equal(crypto.createHash('sha256').update(text).digest('hex'), expectedBigTextHash(N, LEN), 'text intact, in order');
    });

    test(`a never-reading client leaves while the transfer is paused → upstream closed within ${DISCONNECT_LIMIT_MS} ms`, async (t) => {
      main.enqueue({ source: bigSource(style, 10000, 4000) });
      const s = openStream(env.d.port, body(S.model), { pauseReading: true, timeoutMs: 20000 });
      t.after(() => s.destroy());
      const rec = await main.waitForRequests(1, 3000);
      await waitFor(() => rec.waitingSince !== null && Date.now() - rec.waitingSince > 500,
        { timeoutMs: 8000, what: 'the upstream to be held back for 500 ms' });
      assert.ok(rec.bytesSent < 20 * 1048576, `paused (${rec.bytesSent} bytes pushed)`);
      assert.equal(rec.clientClosed, false, `the upstream transfer is still open while paused${ctx()}`);
      const t0 = Date.now();
      s.destroy();
      const closed = await upstreamClosed(0, 3000);
      const dt = closed.closedAt - t0;
      console.log(`# ${style}: upstream closed ${dt} ms after a client left during a paused transfer`);
      assert.ok(dt <= DISCONNECT_LIMIT_MS, `upstream closed ${dt} ms after the client left (limit ${DISCONNECT_LIMIT_MS})${ctx()}`);
      await activeIsZero();
      assert.ok(env.d.alive());
    });

    test('a bursty slow reader: many pause/resume cycles, the text arrives intact and in order', async (t) => {
      const N = 4000; // ~16 MB
      const LEN = 4000;
      main.enqueue({ source: bigSource(style, N, LEN) });
      const s = openStream(env.d.port, body(S.model), { pauseReading: true, timeoutMs: 60000 });
      t.after(() => s.destroy());
      const rec = await main.waitForRequests(1, 3000);
      await s.head;
      let bursts = 0;
      let finished = false;
      s.done.then(() => { finished = true; });
      while (!finished) {
        await sleep(30);
        const before = s.received();
        s.resumeReading();
        await s.waitBytes(before + 512 * 1024, 10000);
        s.pauseReading();
        bursts++;
        assert.ok(bursts < 1000, 'bounded');
      }
      const r = await s.done;
      console.log(`# ${style} bursty reader: ${bursts} bursts, upstream held back up to ${rec.maxDrainWaitMs} ms at a time`);
      assert.ok(r.complete, `ended cleanly${ctx()}`);
      assert.ok(rec.maxDrainWaitMs >= 20, `the upstream was held back at least once (backpressure reached it): ${rec.maxDrainWaitMs} ms`);
      const msg = assertCompleteStream(r.text, { ctx: ctx() });
      const text = msg.content.map((b) => b.text).join('');
      assert.equal(text.length, N * LEN, 'all text arrived');
      assert.equal(crypto.createHash('sha256').update(text).digest('hex'), expectedBigTextHash(N, LEN), 'text intact, in order');
    });

    test('keep-alive: three streaming requests in a row on one connection all complete', async () => {
      const agent = new http.Agent({ keepAlive: true, maxSockets: 1 });
      try {
        for (let i = 0; i < 3; i++) {
          main.enqueue({ chunks: S.complete([`answer `, `number ${i}`]), gapMs: 2 });
          const r = await openStream(env.d.port, body(S.model), { agent }).done;
          assert.equal(r.status, 200, r.text + ctx());
          assert.ok(r.complete, `request ${i} ended cleanly${ctx()}`);
          assert.equal(assertCompleteStream(r.text, { ctx: ctx() }).content[0].text, `answer number ${i}`);
          if (i > 0) assert.equal(r.reusedSocket, true, `request ${i} reused the connection`);
        }
      } finally {
        agent.destroy();
      }
    });

    test('200 concurrent streams through one daemon all complete', async () => {
      const N = 200;
      for (let i = 0; i < N; i++) {
        main.enqueue((rec) => {
          const who = rec.json.messages[0].content;
          return { chunks: S.complete([`reply to `, who, ' ', 'ok']), gapMs: 20 };
        });
      }
      const t0 = Date.now();
      const streams = [];
      for (let i = 0; i < N; i++) {
        streams.push(openStream(env.d.port, body(S.model, { messages: [{ role: 'user', content: `client-${i}` }] }), { timeoutMs: 20000 }).done);
      }
      const results = await Promise.all(streams);
      const dt = Date.now() - t0;
      const bad = results.map((r, i) => [r, i]).filter(([r, i]) => {
        try {
          return !(r.status === 200 && r.complete && assertCompleteStream(r.text).content[0].text === `reply to client-${i} ok`);
        } catch { return true; }
      });
      console.log(`# ${style}: ${N} concurrent streams in ${dt} ms, ${bad.length} bad`);
      assert.equal(bad.length, 0, `streams that did not complete: ${bad.slice(0, 3).map(([r, i]) => `#${i} status ${r.status} ${r.error ? r.error.message : ''} ${r.text.slice(0, 300)}`).join('\n')}${ctx()}`);
      assert.equal(main.requests.length, N);
      await activeIsZero();
    });
  });
}

describe('daemon-wide limits', () => {
  test('startup logs the open-file limit', () => {
    const lines = logLines(env.d, 'open-file limit');
    assert.equal(lines.length, 1, `one "open-file limit" line:\n${env.d.stderrText().slice(0, 2000)}`);
    const l = lines[0];
    assert.ok(Number.isInteger(l.before) && Number.isInteger(l.now) && l.now >= l.before, JSON.stringify(l));
    assert.ok(Number.isInteger(l.concurrent_streams) && l.concurrent_streams > 0, JSON.stringify(l));
  });

  test('SIGTERM right after a stream ended → clean exit (under ASan: no leak of the exchange whose upstream is still closing)', async () => {
    for (let i = 0; i < 4; i++) {
      const d = await startDaemon({
        homeSettings: {
          providers: { oai: { baseURL: `${main.url}/v1`, apiKey: OAI_KEY } },
          models: { bigModel: 'x@oai', smallModel: 'y@oai', preferredProvider: 'oai' },
        },
      });
      let stopped = false;
      try {
        main.enqueue({ chunks: oaiTextChunks(['Hel', 'lo', ' there', ', friend']), gapMs: 1 });
        const r = await openStream(d.port, body('gpt-x@oai')).done;
        assert.equal(assertCompleteStream(r.text).content[0].text, 'Hello there, friend');
        stopped = true;
        await d.stop(); // at once: the upstream body may still be finishing; throws on a sanitizer report
      } finally {
        if (!stopped) await d.stop().catch(() => {});
      }
    }
  });

  test('maxConcurrentRequests 2: the third request in flight gets 529 overloaded_error JSON; afterwards requests work again', async () => {
    const d = await startDaemon({
      homeSettings: {
        server: { maxConcurrentRequests: 2 },
        providers: { anth: { baseURL: main.url, responseStyle: 'anthropic', apiKey: ANTH_KEY } },
        models: { bigModel: 'x@anth', smallModel: 'y@anth', preferredProvider: 'anth' },
      },
    });
    try {
      main.enqueue({ delayMs: 1500, chunks: anthTextEvents(['first']) }, { delayMs: 1500, chunks: anthTextEvents(['second']) });
      const a = openStream(d.port, body('claude-x@anth'));
      const b = openStream(d.port, body('claude-x@anth'));
      await main.waitForRequests(2, 3000);
      const c = await openStream(d.port, body('claude-x@anth')).done;
      const cc = `\nstatus=${c.status} body=${c.text}\n${d.stderrText().split('\n').slice(-10).join('\n')}`;
      assert.equal(c.status, 529, `third request in flight${cc}`);
      assert.match(String(c.headers['content-type']), /^application\/json\b/, cc);
      const j = JSON.parse(c.text);
      assert.equal(j.type, 'error', cc);
      assert.equal(j.error.type, 'overloaded_error', cc);
      assert.equal(main.requests.length, 2, 'the refused request never reached the upstream');
      const [ra, rb] = await Promise.all([a.done, b.done]);
      assert.equal(assertCompleteStream(ra.text).content[0].text, 'first');
      assert.equal(assertCompleteStream(rb.text).content[0].text, 'second');
      await waitFor(async () => (await request(d.port, { path: '/health' })).json?.active === 0, { timeoutMs: 2000, what: 'active 0' });
      for (let i = 0; i < 2; i++) {
        main.enqueue({ chunks: anthTextEvents([`again ${i}`]) });
        const r = await openStream(d.port, body('claude-x@anth')).done;
        assert.equal(r.status, 200, r.text);
        assert.equal(assertCompleteStream(r.text).content[0].text, `again ${i}`);
      }
    } finally {
      await d.stop();
    }
  });
});
