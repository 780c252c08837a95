// Renders /openapi.json as a page: every operation with its parameters, body and answers.
// Plain DOM, no framework and nothing from a CDN (the page is served under a strict CSP).
"use strict";

const el = (tag, attrs = {}, ...kids) => {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) node.setAttribute(k, v);
  for (const kid of kids) node.append(kid);
  return node;
};

function resolve(spec, schema) {
  let s = schema || {};
  for (let i = 0; s.$ref && i < 8; i++) {
    s = s.$ref.split("/").slice(1).reduce((o, k) => (o || {})[k], spec) || {};
  }
  return s;
}

function typeOf(spec, schema) {
  const s = resolve(spec, schema);
  if (s.anyOf) return s.anyOf.map((x) => typeOf(spec, x)).join(" | ");
  if (s.type === "array") return `${typeOf(spec, s.items)}[]`;
  if (schema && schema.$ref) return schema.$ref.split("/").pop();
  return s.type || s.format || "object";
}

function fields(spec, schema) {
  const s = resolve(spec, schema);
  const props = Object.entries(s.properties || {});
  if (!props.length) return el("p", {}, el("code", {}, typeOf(spec, schema)));
  const rows = props.map(([name, p]) => el("tr", {},
    el("td", {}, el("code", {}, name), (s.required || []).includes(name) ? " *" : ""),
    el("td", {}, typeOf(spec, p)),
    el("td", {}, resolve(spec, p).description || "")));
  return el("table", {}, el("tr", {}, el("th", {}, "field"), el("th", {}, "type"),
    el("th", {}, "meaning")), ...rows);
}

function operation(spec, path, method, op) {
  const box = el("section", { class: "op", id: op.operationId || `${method}-${path}` },
    el("h3", {}, el("span", { class: `method ${method}` }, method.toUpperCase()),
      el("span", { class: "path" }, path)));
  if (op.summary) box.append(el("p", {}, el("strong", {}, op.summary)));
  if (op.description) box.append(el("p", {}, op.description));
  const params = op.parameters || [];
  if (params.length) {
    box.append(el("h4", {}, "Parameters"), el("table", {},
      el("tr", {}, el("th", {}, "name"), el("th", {}, "in"), el("th", {}, "type"), el("th", {}, "meaning")),
      ...params.map((p) => el("tr", {}, el("td", {}, el("code", {}, p.name), p.required ? " *" : ""),
        el("td", {}, p.in), el("td", {}, typeOf(spec, p.schema)), el("td", {}, p.description || "")))));
  }
  const body = resolve(spec, op.requestBody);
  for (const [ctype, media] of Object.entries(body.content || {})) {
    box.append(el("h4", {}, `Body (${ctype})`), fields(spec, media.schema));
  }
  const answers = Object.entries(op.responses || {}).map(([code, r]) => {
    const media = Object.values(resolve(spec, r).content || {})[0];
    return el("tr", {}, el("td", {}, code), el("td", {}, resolve(spec, r).description || ""),
      el("td", {}, media && media.schema ? typeOf(spec, media.schema) : ""));
  });
  if (answers.length) box.append(el("h4", {}, "Answers"), el("table", {}, ...answers));
  return box;
}

async function main() {
  const spec = await (await fetch("/openapi.json")).json();
  const groups = new Map();
  for (const [path, item] of Object.entries(spec.paths)) {
    for (const [method, op] of Object.entries(item)) {
      const tag = (op.tags || ["other"])[0];
      if (!groups.has(tag)) groups.set(tag, []);
      groups.get(tag).push(operation(spec, path, method, op));
    }
  }
  const main = document.getElementById("ops");
  main.replaceChildren();
  for (const [tag, ops] of groups) {
    document.getElementById("toc").append(el("a", { href: `#tag-${tag}` }, tag));
    main.append(el("h2", { id: `tag-${tag}` }, tag), ...ops);
  }
  document.title = `${spec.info.title} ${spec.info.version} API`;
}

main().catch((err) => {
  document.getElementById("ops").textContent = `The API description could not be read: ${err}`;
});
