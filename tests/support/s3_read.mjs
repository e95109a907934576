// An independent S3 reader for the tests: the AWS SDK for JavaScript v3 reads back what
// fhirlake wrote. Endpoint and credentials come from the standard AWS variables
// (AWS_ENDPOINT_URL, AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, AWS_REGION); path-style.
// Usage: node s3_read.mjs list BUCKET PREFIX   -> one JSON line per object {key, size}
//        node s3_read.mjs get BUCKET KEY OUT    -> writes the object to OUT
//        node s3_read.mjs put BUCKET KEY FILE   -> uploads FILE
//        node s3_read.mjs sync BUCKET PREFIX DIR -> downloads every object under PREFIX into DIR
import { createRequire } from 'node:module';
import fs from 'node:fs';
import path from 'node:path';

const require = createRequire(path.join(process.env.FHIRLAKE_S3_NODE_MODULES ?? process.cwd(), 'x.js'));
const { S3Client, ListObjectsV2Command, GetObjectCommand, PutObjectCommand } = require('@aws-sdk/client-s3');

const client = new S3Client({ forcePathStyle: true, region: process.env.AWS_REGION ?? 'us-east-1' });
const [command, bucket, keyOrPrefix, file] = process.argv.slice(2);

async function listAll(prefix) {
  const out = [];
  let token;
  do {
    const page = await client.send(new ListObjectsV2Command({ Bucket: bucket, Prefix: prefix, ContinuationToken: token }));
    for (const o of page.Contents ?? []) out.push({ key: o.Key, size: o.Size });
    token = page.IsTruncated ? page.NextContinuationToken : undefined;
  } while (token);
  return out;
}

async function download(key, out) {
  const r = await client.send(new GetObjectCommand({ Bucket: bucket, Key: key }));
  fs.mkdirSync(path.dirname(out), { recursive: true });
  fs.writeFileSync(out, Buffer.from(await r.Body.transformToByteArray()));
}

try {
  if (command === 'list') {
    for (const o of await listAll(keyOrPrefix ?? '')) process.stdout.write(JSON.stringify(o) + '\n');
  } else if (command === 'get') {
    await download(keyOrPrefix, file);
  } else if (command === 'put') {
    await client.send(new PutObjectCommand({ Bucket: bucket, Key: keyOrPrefix, Body: fs.readFileSync(file) }));
  } else if (command === 'sync') {
    for (const o of await listAll(keyOrPrefix)) await download(o.key, path.join(file, o.key.slice(keyOrPrefix.length)));
  } else {
    console.error('usage: s3_read.mjs list|get|put|sync ...');
    process.exit(2);
  }
} catch (e) {
  console.error(`${e.name}: ${e.message}`);
  process.exit(1);
}
