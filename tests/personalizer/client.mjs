// tests/personalizer/client.mjs — drives a live server with the official
// Azure Personalizer client (@azure/cognitiveservices-personalizer, with
// @azure/ms-rest-azure-js for the key), the way an existing Personalizer loop
// does: only the endpoint and the key change.
//
//   PERSONALIZER_ENDPOINT=http://127.0.0.1:8000 PERSONALIZER_KEY=ofr_... \
//     node tests/personalizer/client.mjs
//
// Optional: PERSONALIZER_LOOP_EVENTS (ranks in the learning loop, 400),
// PERSONALIZER_LOOP_TAIL (the last ranks measured, 100),
// PERSONALIZER_LOOP_MIN (share of the tail that must pick the rewarded
// action, 0.9), PERSONALIZER_SKIP (comma-separated step names to skip).
//
// Each step prints "PASS name" or "FAIL name: why"; the script exits 1 when a
// step failed, 2 when it could not start. The client (version 2.0.1) covers
// rank, reward and activate; the configuration calls and the requests the
// client itself refuses to send (a missing `features`) go through the same
// client's sendRequest, so they carry the same headers and key.
import { createRequire } from 'node:module';
import { randomUUID } from 'node:crypto';

const require = createRequire(import.meta.url);
const { PersonalizerClient } = require('@azure/cognitiveservices-personalizer');
const { CognitiveServicesCredentials } = require('@azure/ms-rest-azure-js');

const endpoint = (process.env.PERSONALIZER_ENDPOINT || '').replace(/\/+$/, '');
const key = process.env.PERSONALIZER_KEY || '';
if (!endpoint || !key) {
  console.error('usage: PERSONALIZER_ENDPOINT=http://host:port PERSONALIZER_KEY=key node client.mjs');
  process.exit(2);
}
const loopEvents = Number(process.env.PERSONALIZER_LOOP_EVENTS || 400);
const loopTail = Number(process.env.PERSONALIZER_LOOP_TAIL || 100);
const loopMin = Number(process.env.PERSONALIZER_LOOP_MIN || 0.9);
const skip = new Set((process.env.PERSONALIZER_SKIP || '').split(',').filter(Boolean));

const base = `${endpoint}/personalizer/v1.0`;
const client = new PersonalizerClient(new CognitiveServicesCredentials(key), endpoint);
const wrongClient = new PersonalizerClient(new CognitiveServicesCredentials(`${key}-wrong`), endpoint);

let failures = 0;
let passes = 0;

class Check extends Error {}
function expect(cond, msg) {
  if (!cond) throw new Check(msg);
}

async function step(name, fn) {
  if (skip.has(name)) {
    console.log(`SKIP ${name}`);
    return;
  }
  try {
    const note = await fn();
    passes++;
    console.log(`PASS ${name}${note ? ` (${note})` : ''}`);
  } catch (e) {
    failures++;
    const why = e instanceof Check ? e.message : `${e.name}: ${e.message}${e.statusCode ? ` [HTTP ${e.statusCode}]` : ''}`;
    console.log(`FAIL ${name}: ${why}`);
  }
}

// --- helpers ----------------------------------------------------------------

// An article catalogue: ids with feature lists, as Personalizer's samples use.
function actions(ids) {
  return ids.map((id, i) => ({
    id,
    features: [{ topic: id.replace(/Article$/, '') }, { length: i % 2 ? 'long' : 'short', words: 300 + 100 * i }],
  }));
}
const articles = ['NewsArticle', 'SportsArticle', 'EntertainmentArticle', 'PoliticsArticle', 'TechArticle'];
const context = (time, device) => [{ timeOfDay: time }, { device: { mobile: device === 'mobile', os: device } }];

// The status, code and body of a rejection, whether the client threw a
// RestError or sendRequest returned the response.
function rejection(errOrResponse) {
  const r = errOrResponse.response || errOrResponse._response || errOrResponse;
  const status = errOrResponse.statusCode || r.status;
  // A RestError carries the deserialised error in .body and the raw text in
  // .response.body; a sendRequest answer has bodyAsText.
  let body = errOrResponse.statusCode && typeof errOrResponse.body === 'object' ? errOrResponse.body : r.parsedBody;
  const text = typeof r.bodyAsText === 'string' ? r.bodyAsText : r.body;
  if (body === undefined && typeof text === 'string') {
    try { body = JSON.parse(text); } catch { body = undefined; }
  }
  return { status, body };
}

// Expects the promise to fail with status and error.code (when given).
async function expectRejected(promise, status, code) {
  let res;
  try {
    res = await promise;
  } catch (e) {
    if (e instanceof Check) throw e;
    if (!e.statusCode && !e.response) throw e;  // a network error, not an answer
    res = e;
  }
  const { status: got, body } = rejection(res);
  expect(got === status, `expected HTTP ${status}, got ${got} ${JSON.stringify(body)}`);
  expect(body && body.error && typeof body.error.message === 'string' && body.error.message.length > 0,
    `error body lacks {"error": {"code", "message"}}: ${JSON.stringify(body)}`);
  if (code) expect(body.error.code === code, `expected error.code ${code}, got ${body.error.code}`);
  return `${got} ${body.error.code}${body.error.innerError ? `/${body.error.innerError.code}` : ''}: ${body.error.message}`;
}

// A raw call through the client's pipeline (same key header, same user
// agent). An object body is serialised by the pipeline; a string is sent as
// it is (malformed JSON on purpose).
function raw(method, path, body) {
  const req = { method, url: `${base}/${path}`, headers: { 'Content-Type': 'application/json; charset=utf-8' } };
  if (body !== undefined) {
    req.body = body;
    req.disableJsonStringifyOnBody = typeof body === 'string';
  }
  return client.sendRequest(req);
}

function checkRanking(res, acts, excluded) {
  expect(res._response.status === 201, `rank answered ${res._response.status}, expected 201`);
  expect(Array.isArray(res.ranking), 'ranking is not an array');
  const ids = res.ranking.map((r) => r.id).sort();
  expect(JSON.stringify(ids) === JSON.stringify(acts.map((a) => a.id).sort()),
    `ranking ${JSON.stringify(ids)} does not list every action once`);
  let sum = 0;
  for (const r of res.ranking) {
    expect(typeof r.probability === 'number' && r.probability >= 0 && r.probability <= 1,
      `probability of ${r.id} is ${r.probability}`);
    sum += r.probability;
    if (excluded.includes(r.id)) expect(r.probability === 0, `excluded ${r.id} has probability ${r.probability}`);
  }
  expect(Math.abs(sum - 1) < 1e-6, `probabilities sum to ${sum}`);
  expect(typeof res.rewardActionId === 'string' && acts.some((a) => a.id === res.rewardActionId),
    `rewardActionId ${res.rewardActionId} is not an action`);
  expect(!excluded.includes(res.rewardActionId), `rewardActionId ${res.rewardActionId} is excluded`);
  expect(typeof res.eventId === 'string' && res.eventId.length > 0, 'no eventId');
}

// --- steps --------------------------------------------------------------------

const saved = {};

await step('rank-client-event-id', async () => {
  const acts = actions(articles.slice(0, 3));
  const eventId = randomUUID();
  const res = await client.rank({
    contextFeatures: context('Morning', 'mobile'),
    actions: acts,
    excludedActions: ['SportsArticle'],
    eventId,
    deferActivation: false,
  });
  checkRanking(res, acts, ['SportsArticle']);
  expect(res.eventId === eventId, `eventId ${res.eventId}, sent ${eventId}`);
  saved.eventId = eventId;
  return `rewardActionId ${res.rewardActionId}`;
});

await step('rank-generated-event-id', async () => {
  const acts = actions(articles);
  const a = await client.rank({ contextFeatures: context('Evening', 'desktop'), actions: acts });
  const b = await client.rank({ contextFeatures: context('Evening', 'desktop'), actions: acts });
  checkRanking(a, acts, []);
  checkRanking(b, acts, []);
  expect(a.eventId !== b.eventId, `two ranks got the same generated eventId ${a.eventId}`);
  saved.generated = a.eventId;
  return `eventIds ${a.eventId}, ${b.eventId}`;
});

await step('rank-without-context', async () => {
  const acts = actions(articles.slice(0, 2));
  const res = await client.rank({ actions: acts });
  checkRanking(res, acts, []);
});

await step('reward', async () => {
  expect(saved.eventId, 'no event from rank-client-event-id');
  const res = await client.events.reward(saved.eventId, { value: 1 });
  expect(res._response.status === 204, `reward answered ${res._response.status}, expected 204`);
  const again = await client.events.reward(saved.generated, { value: 0.25 });
  expect(again._response.status === 204, `reward of a generated id answered ${again._response.status}`);
});

await step('deferred-activation', async () => {
  const acts = actions(articles.slice(0, 4));
  const eventId = `deferred-${randomUUID()}`;
  const res = await client.rank({ contextFeatures: context('Noon', 'tablet'), actions: acts, eventId, deferActivation: true });
  checkRanking(res, acts, []);
  const act = await client.events.activate(eventId);
  expect(act._response.status === 204, `activate answered ${act._response.status}, expected 204`);
  const rew = await client.events.reward(eventId, { value: 0.5 });
  expect(rew._response.status === 204, `reward after activate answered ${rew._response.status}`);
});

await step('service-configuration', async () => {
  const got = await raw('GET', 'configurations/service');
  expect(got.status === 200, `GET configurations/service answered ${got.status}`);
  const cfg = got.parsedBody || JSON.parse(got.bodyAsText);
  for (const k of ['rewardWaitTime', 'defaultReward', 'rewardAggregation', 'explorationPercentage',
    'modelExportFrequency', 'logRetentionDays']) {
    expect(k in cfg, `configuration lacks ${k}: ${JSON.stringify(cfg)}`);
  }
  saved.config = cfg;
  const next = { ...cfg, explorationPercentage: 0.05, rewardWaitTime: '00:01:00', learningMode: 'Online' };
  const put = await raw('PUT', 'configurations/service', next);
  expect(put.status === 200, `PUT configurations/service answered ${put.status} ${put.bodyAsText}`);
  const echo = put.parsedBody || JSON.parse(put.bodyAsText);
  expect(echo.explorationPercentage === 0.05, `PUT answered explorationPercentage ${echo.explorationPercentage}`);
  const again = await raw('GET', 'configurations/service');
  const now = again.parsedBody || JSON.parse(again.bodyAsText);
  expect(now.explorationPercentage === 0.05, `GET after PUT: explorationPercentage ${now.explorationPercentage}`);
  expect(now.learningMode === 'Online', `GET after PUT: learningMode ${now.learningMode}`);
  const bad = await raw('PUT', 'configurations/service', { ...cfg, explorationPercentage: 1.5 });
  const why = await expectRejected(Promise.resolve(bad), 400, 'BadRequest');
  return `was ${JSON.stringify(cfg)}; bad exploration: ${why}`;
});

await step('learning-loop', async () => {
  // One action is always rewarded, the others never: after loopEvents ranks
  // it must be rewardActionId in at least loopMin of the last loopTail.
  const acts = actions(articles);
  const best = 'TechArticle';
  const times = ['Morning', 'Noon', 'Evening'];
  const devices = ['mobile', 'desktop'];
  let hits = 0;
  for (let i = 0; i < loopEvents; i++) {
    const res = await client.rank({ contextFeatures: context(times[i % 3], devices[i % 2]), actions: acts });
    if (i >= loopEvents - loopTail && res.rewardActionId === best) hits++;
    await client.events.reward(res.eventId, { value: res.rewardActionId === best ? 1 : 0 });
  }
  const share = hits / loopTail;
  expect(share >= loopMin, `${best} was rewardActionId in ${(100 * share).toFixed(1)}% of the last ${loopTail} ranks, need ${100 * loopMin}%`);
  return `${best} chosen in ${(100 * share).toFixed(1)}% of the last ${loopTail} of ${loopEvents} ranks`;
});

await step('restore-configuration', async () => {
  expect(saved.config, 'no configuration was read');
  const put = await raw('PUT', 'configurations/service', saved.config);
  expect(put.status === 200, `PUT answered ${put.status} ${put.bodyAsText}`);
});

// --- malformed requests: Personalizer's 4xx, never a 5xx ------------------------

await step('reject-missing-features', async () => {
  // The client refuses to send an action without features...
  let refused = false;
  try {
    await client.rank({ actions: [{ id: 'a' }] });
  } catch (e) {
    refused = !e.statusCode;
  }
  expect(refused, 'the client sent an action without features');
  // ...so a hand-made body checks the server does too.
  return expectRejected(raw('POST', 'rank', { contextFeatures: [{ a: 1 }], actions: [{ id: 'a' }] }), 400, 'BadRequest');
});

await step('reject-too-many-actions', async () => {
  const acts = Array.from({ length: 51 }, (_, i) => ({ id: `a${i}`, features: [{ n: i }] }));
  return expectRejected(client.rank({ contextFeatures: context('Morning', 'mobile'), actions: acts }), 400, 'BadRequest');
});

await step('reject-duplicate-ids', async () => {
  const acts = [...actions(['NewsArticle', 'SportsArticle']), ...actions(['NewsArticle'])];
  return expectRejected(client.rank({ contextFeatures: context('Morning', 'mobile'), actions: acts }), 400, 'BadRequest');
});

await step('reject-unknown-excluded-id', async () => {
  return expectRejected(client.rank({ actions: actions(articles.slice(0, 2)), excludedActions: ['NoSuchArticle'] }), 400, 'BadRequest');
});

await step('reject-reward-out-of-range', async () => {
  const res = await client.rank({ contextFeatures: context('Morning', 'mobile'), actions: actions(articles.slice(0, 2)) });
  const high = await expectRejected(client.events.reward(res.eventId, { value: 1.5 }), 400, 'BadRequest');
  await expectRejected(client.events.reward(res.eventId, { value: -2 }), 400, 'BadRequest');
  return high;
});

await step('reject-unknown-event-id', async () => {
  const id = `no-such-event-${randomUUID()}`;
  const r = await expectRejected(client.events.reward(id, { value: 1 }), 404, 'ResourceNotFound');
  await expectRejected(client.events.activate(id), 404, 'ResourceNotFound');
  return r;
});

await step('reject-malformed-json', async () => expectRejected(raw('POST', 'rank', '{"actions": ['), 400, 'BadRequest'));

await step('reject-wrong-key', async () => expectRejected(wrongClient.rank({ actions: actions(articles.slice(0, 2)) }), 401));

console.log(`${passes} passed, ${failures} failed`);
process.exit(failures ? 1 : 0);
