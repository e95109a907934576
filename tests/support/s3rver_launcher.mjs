// A loopback S3 server for the tests: s3rver (the S3 REST API on the filesystem) with three
// additions in front of it, because the tests must exercise what real S3 does and s3rver does not:
//   - Signature V4 is verified (s3rver accepts any V4 signature): a wrong secret gets 403
//     SignatureDoesNotMatch, an unknown key id 403 InvalidAccessKeyId, as on AWS.
//   - `If-None-Match: *` on PUT is enforced (s3rver ignores it): 412 PreconditionFailed when the
//     object exists, checked and written under a per-key lock so two racing writers cannot both
//     win.
//   - A PUT is atomic, as on S3: readers see the old object or the new one, never part of one.
//     s3rver answers once it has read the body, writes the file in place afterwards, and reads
//     an object's size and content in two steps; here an object is written whole under a
//     temporary name and renamed into place before the answer, and each object request runs
//     under its key's lock (a GET holds it until its file is open).
//   - ListObjectsV2 with a delimiter is answered as S3 does: s3rver leaves out the common
//     prefixes whose objects all lie two or more levels down and counts only objects against
//     max-keys.
//   - Faults on request: `--slowdown N` answers the first N requests 503 SlowDown;
//     `--fail-part N` answers every upload of part N 500 InternalError;
//     `--drop-response REGEX` carries out the first request whose "METHOD /bucket/key" matches,
//     then closes the connection without an answer (a reply lost on the way back);
//     `--complete-error N` answers the first N CompleteMultipartUpload requests 200 with an
//     InternalError in the body, completing nothing (as S3 may).
// Usage: node s3rver_launcher.mjs --dir DIR --bucket NAME [--bucket NAME2] [--request-log FILE]
// Prints one line {"port": N} on stdout once listening on 127.0.0.1.
// Credentials: access key id S3RVER, secret S3RVER. Run node with --openssl-legacy-provider:
// s3rver encrypts ListObjectsV2 continuation tokens with DES.
import { createRequire } from 'node:module';
import crypto from 'node:crypto';
import fs from 'node:fs';
import path from 'node:path';

const require = createRequire(path.join(process.env.FHIRLAKE_S3_NODE_MODULES ?? process.cwd(), 'x.js'));
const S3rver = require('s3rver');

const args = process.argv.slice(2);
const opt = { buckets: [], slowdown: 0, failPart: 0, dropResponse: null, completeErrors: 0, dir: '', log: '' };
for (let i = 0; i < args.length; i++) {
  const a = args[i];
  if (a === '--dir') opt.dir = args[++i];
  else if (a === '--bucket') opt.buckets.push(args[++i]);
  else if (a === '--slowdown') opt.slowdown = Number(args[++i]);
  else if (a === '--fail-part') opt.failPart = Number(args[++i]);
  else if (a === '--drop-response') opt.dropResponse = new RegExp(args[++i]);
  else if (a === '--complete-error') opt.completeErrors = Number(args[++i]);
  else if (a === '--request-log') opt.log = args[++i];
  else { console.error(`unknown argument ${a}`); process.exit(2); }
}
const kSecrets = new Map([['S3RVER', 'S3RVER']]);

function s3Error(ctx, status, code, message) {
  ctx.status = status;
  ctx.type = 'application/xml';
  ctx.body = `<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>${code}</Code><Message>${message}</Message></Error>`;
}

const rfc3986 = s => encodeURIComponent(s).replace(/[!'()*]/g, c => '%' + c.charCodeAt(0).toString(16).toUpperCase());
const hmac = (key, data) => crypto.createHmac('sha256', key).update(data).digest();

// AWS SigV4 header authentication, recomputed from the request as received.
function checkSignature(ctx) {
  const auth = ctx.get('authorization');
  const m = /^AWS4-HMAC-SHA256 Credential=([^/]+)\/(\d{8})\/([^/]+)\/s3\/aws4_request, ?SignedHeaders=([^,]+), ?Signature=([0-9a-f]+)$/.exec(auth);
  if (!m) return ['AccessDenied', 'missing or malformed SigV4 Authorization header'];
  const [, keyId, date, region, signedHeaders, signature] = m;
  const secret = kSecrets.get(keyId);
  if (!secret) return ['InvalidAccessKeyId', 'The AWS Access Key Id you provided does not exist in our records.'];
  const raw = ctx.req.url;
  const q = raw.indexOf('?');
  const uri = q < 0 ? raw : raw.slice(0, q);
  const query = q < 0 ? [] : raw.slice(q + 1).split('&').filter(Boolean).map(p => {
    const eq = p.indexOf('=');
    const name = decodeURIComponent(eq < 0 ? p : p.slice(0, eq));
    const value = eq < 0 ? '' : decodeURIComponent(p.slice(eq + 1).replace(/\+/g, '%20'));
    return [rfc3986(name), rfc3986(value)];
  }).sort((a, b) => (a[0] < b[0] ? -1 : a[0] > b[0] ? 1 : a[1] < b[1] ? -1 : a[1] > b[1] ? 1 : 0));
  const headers = signedHeaders.split(';').map(h => `${h}:${String(ctx.req.headers[h] ?? '').trim().replace(/ +/g, ' ')}\n`).join('');
  const canonical = [ctx.method, uri, query.map(([n, v]) => `${n}=${v}`).join('&'), headers, signedHeaders,
    ctx.get('x-amz-content-sha256')].join('\n');
  const toSign = ['AWS4-HMAC-SHA256', ctx.get('x-amz-date'), `${date}/${region}/s3/aws4_request`,
    crypto.createHash('sha256').update(canonical).digest('hex')].join('\n');
  let k = hmac('AWS4' + secret, date);
  k = hmac(k, region);
  k = hmac(k, 's3');
  k = hmac(k, 'aws4_request');
  if (hmac(k, toSign).toString('hex') !== signature) {
    return ['SignatureDoesNotMatch', 'The request signature we calculated does not match the signature you provided. Check your key and signing method.'];
  }
  return null;
}

const locks = new Map();  // key -> promise of the request holding it
async function withKeyLock(key, fn) {
  const previous = locks.get(key) ?? Promise.resolve();
  let release;
  const mine = new Promise(r => { release = r; });
  const chained = previous.then(() => mine);
  locks.set(key, chained);
  await previous;
  try { return await fn(); } finally {
    release();
    if (locks.get(key) === chained) locks.delete(key);
  }
}

const xmlEscape = s => s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;');

async function listDelimited(ctx, bucket) {
  const prefix = ctx.query.prefix ?? '';
  const delimiter = ctx.query.delimiter;
  const maxKeys = Math.max(0, Math.min(1000, Number(ctx.query['max-keys'] ?? 1000)));
  const token = ctx.query['continuation-token'];
  const after = token ? Buffer.from(token, 'base64url').toString() : (ctx.query['start-after'] ?? '');
  const { objects } = await server.store.listObjects(bucket, { prefix });
  const entries = new Map();  // key or common prefix -> the object, or null for a prefix
  for (const o of objects) {
    const idx = o.key.slice(prefix.length).indexOf(delimiter);
    if (idx === -1) entries.set(o.key, o);
    else entries.set(o.key.slice(0, prefix.length + idx + delimiter.length), null);
  }
  const keys = [...entries.keys()].filter(k => k > after).sort();
  const page = keys.slice(0, maxKeys);
  const truncated = keys.length > page.length;
  const parts = page.map(k => {
    const o = entries.get(k);
    if (!o) return `<CommonPrefixes><Prefix>${xmlEscape(k)}</Prefix></CommonPrefixes>`;
    return `<Contents><Key>${xmlEscape(k)}</Key><LastModified>${o.lastModifiedDate.toISOString()}</LastModified>` +
      `<ETag>${xmlEscape(o.metadata.etag ?? '')}</ETag><Size>${o.size}</Size><StorageClass>STANDARD</StorageClass></Contents>`;
  });
  ctx.status = 200;
  ctx.type = 'application/xml';
  ctx.body = `<?xml version="1.0" encoding="UTF-8"?>\n<ListBucketResult xmlns="http://s3.amazonaws.com/doc/2006-03-01/">` +
    `<Name>${xmlEscape(bucket)}</Name><Prefix>${xmlEscape(prefix)}</Prefix><Delimiter>${xmlEscape(delimiter)}</Delimiter>` +
    `<MaxKeys>${maxKeys}</MaxKeys><KeyCount>${page.length}</KeyCount><IsTruncated>${truncated}</IsTruncated>` +
    (truncated ? `<NextContinuationToken>${Buffer.from(page[page.length - 1]).toString('base64url')}</NextContinuationToken>` : '') +
    parts.join('') + '</ListBucketResult>';
}

const server = new S3rver({
  address: '127.0.0.1', port: 0, silent: true, directory: opt.dir, vhostBuckets: false,
  configureBuckets: opt.buckets.map(name => ({ name, configs: [] })),
});
let requests = 0;
const front = async (ctx, next) => {
  if (opt.dropResponse && opt.dropResponse.test(`${ctx.method} ${decodeURIComponent(ctx.path)}`)) {
    opt.dropResponse = null;
    await serve(ctx, next);
    ctx.respond = false;
    ctx.req.socket.destroy();
    return;
  }
  return serve(ctx, next);
};
const serve = async (ctx, next) => {
  requests++;
  if (opt.log) fs.appendFileSync(opt.log, JSON.stringify({ method: ctx.method, url: ctx.req.url }) + '\n');
  if (requests <= opt.slowdown) return s3Error(ctx, 503, 'SlowDown', 'Please reduce your request rate.');
  const bad = checkSignature(ctx);
  if (bad) return s3Error(ctx, 403, bad[0], bad[1]);
  if (opt.failPart && ctx.method === 'PUT' && ctx.query.partNumber === String(opt.failPart)) {
    return s3Error(ctx, 500, 'InternalError', 'We encountered an internal error. Please try again.');
  }
  if (opt.completeErrors > 0 && ctx.method === 'POST' && 'uploadId' in ctx.query) {
    opt.completeErrors--;
    ctx.status = 200;
    ctx.type = 'application/xml';
    ctx.body = '<?xml version="1.0" encoding="UTF-8"?>\n<Error><Code>InternalError</Code><Message>We encountered an internal error. Please try again.</Message></Error>';
    return;
  }
  const listedBucket = /^\/([^/]+)\/?$/.exec(ctx.path)?.[1];
  if (ctx.method === 'GET' && listedBucket && ctx.query['list-type'] === '2' && ctx.query.delimiter &&
      opt.buckets.includes(listedBucket)) {
    return listDelimited(ctx, listedBucket);
  }
  const [, bucket, ...rest] = ctx.path.split('/');
  const key = decodeURIComponent(rest.join('/'));
  if (!bucket || !key || 'partNumber' in ctx.query) return next();  // not one object's request
  return withKeyLock(`${bucket}/${key}`, async () => {
    if (ctx.method === 'PUT' && ctx.get('if-none-match') === '*' && await server.store.existsObject(bucket, key)) {
      return s3Error(ctx, 412, 'PreconditionFailed', 'At least one of the pre-conditions you specified did not hold');
    }
    return next();
  });
};
server.middleware.unshift(front);
server.store.putObject = async function putObjectAtomically(object) {
  const objectPath = this.getResourcePath(object.bucket, object.key, 'object');
  await fs.promises.mkdir(path.dirname(objectPath), { recursive: true });
  const chunks = [];
  if (Buffer.isBuffer(object.content)) chunks.push(object.content);
  else for await (const chunk of object.content) chunks.push(chunk);
  const body = Buffer.concat(chunks);
  const md5 = crypto.createHash('md5').update(body).digest('hex');
  const temporary = `${objectPath}.${crypto.randomBytes(6).toString('hex')}.tmp`;
  await fs.promises.writeFile(temporary, body);
  await fs.promises.rename(temporary, objectPath);
  await this.putMetadata(object.bucket, object.key, object.metadata, md5);
  return { size: body.length, md5 };
};
const address = await server.run();
process.stdout.write(JSON.stringify({ port: address.port }) + '\n');
for (const sig of ['SIGTERM', 'SIGINT']) process.on(sig, () => server.close(() => process.exit(0)));
