// The user guide's Node.js verification, run against what the sender really sent.
//
// usage: node verify_admin_signature.js <body file> <signature file> <secret file>
// prints `ok` or `fail`.
//
// `verifyWebhookSignature` below is copied unchanged from the guide (Step 3); the guide
// promises it verifies our `X-Admin-Signature`. The payload is the raw body as a Buffer,
// which is what `express.raw()` hands to the guide's Express handler.
const fs = require('fs');

const crypto = require('crypto');

function verifyWebhookSignature(payload, signature, secret) {
  const hmac = crypto.createHmac('sha256', secret);
  const digest = hmac.update(payload).digest('hex');
  const expected = `sha256=${digest}`;
  
  return crypto.timingSafeEqual(
    Buffer.from(signature),
    Buffer.from(expected)
  );
}

const [bodyPath, signaturePath, secretPath] = process.argv.slice(2);
const payload = fs.readFileSync(bodyPath);
const signature = fs.readFileSync(signaturePath, 'utf8');
const secret = fs.readFileSync(secretPath, 'utf8');

let verified = false;
try {
  verified = verifyWebhookSignature(payload, signature, secret);
} catch (e) {
  // timingSafeEqual throws when the lengths differ: a wrong signature.
  verified = false;
}
console.log(verified ? 'ok' : 'fail');
