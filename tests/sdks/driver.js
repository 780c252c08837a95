// Drives Baidu's Node.js SDK (npm baidu-aip-sdk) through the calls tests/test_sdks.py
// sends as JSON on stdin; prints the SDK's answers as a JSON list.
// Pointing it at tongtu: an interceptor rewrites the URL of every request (token included).
"use strict";
const fs = require("fs");
const AipSdk = require("baidu-aip-sdk");

const input = JSON.parse(fs.readFileSync(0, "utf8"));
AipSdk.HttpClient.setRequestInterceptor((options) => {
  options.url = options.url.replace("https://aip.baidubce.com", input.host);
  return options;
});
const client = new AipSdk.imageSearch(input.app_id, input.api_key, input.secret_key);
const b64 = (path) => fs.readFileSync(path).toString("base64");
const ops = {
  add: (img, o) => client.sameHqAdd(b64(img), o.brief, o),
  add_url: (url, o) => client.sameHqAddUrl(url, o.brief, o),
  search: (img, o) => client.sameHqSearch(b64(img), o),
  search_url: (url, o) => client.sameHqSearchUrl(url, o),
  update: (img, o) => client.sameHqUpdate(b64(img), o),
  update_sign: (sign, o) => client.sameHqUpdateContSign(sign, o),
  delete_image: (img, o) => client.sameHqDeleteByImage(b64(img), o),
  delete_sign: (signs, o) => client.sameHqDeleteBySign(signs, o),
};

(async () => {
  const out = [];
  for (const [op, arg, options] of input.calls) {
    out.push(await ops[op](arg, Object.assign({}, options)));
  }
  process.stdout.write(JSON.stringify(out));
})().catch((e) => {
  process.stderr.write(String(e && e.stack ? e.stack : JSON.stringify(e)));
  process.exit(1);
});
