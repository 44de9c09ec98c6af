'use strict';
// The API's page: reads /openapi.json (served from the binary, as this script is) and shows each
// tag's operations (method, path, summary, description, whether an API key is needed, parameters,
// request fields, responses), then the schemas they refer to. Nothing is fetched from elsewhere.

const api = document.getElementById('api');
const statusLine = document.getElementById('status');
const toc = document.getElementById('toc');
const intro = document.getElementById('intro');

const methods = ['get', 'post', 'put', 'patch', 'delete'];
let spec = null;

function element(tag, className, content) {
  const node = document.createElement(tag);
  if (className) node.className = className;
  if (content !== undefined) append(node, content);
  return node;
}

// Text with `code` spans, as the descriptions write them; nodes are appended as they are.
function append(node, content) {
  if (content === null || content === undefined) return node;
  if (content instanceof Node) {
    node.appendChild(content);
    return node;
  }
  String(content).split('`').forEach((piece, i) => {
    if (!piece) return;
    node.appendChild(i % 2 ? element('code', '', document.createTextNode(piece))
                           : document.createTextNode(piece));
  });
  return node;
}

function refName(ref) { return ref.split('/').pop(); }

function resolve(value) {
  if (!value || !value.$ref) return value;
  const parts = value.$ref.replace(/^#\//, '').split('/');
  let target = spec;
  for (const part of parts) target = target ? target[part] : undefined;
  return target || {};
}

function schemaLink(ref) {
  const name = refName(ref);
  const link = element('a', '', name);
  link.href = '#schema-' + name;
  return link;
}

// A schema's type in words: a link for a named schema, "array of ...", "A or B", the format.
function typeOf(schema) {
  const out = document.createDocumentFragment();
  if (!schema) return out;
  if (schema.$ref) {
    out.appendChild(schemaLink(schema.$ref));
  } else if (schema.allOf && schema.allOf.length === 1 && schema.allOf[0].$ref) {
    out.appendChild(schemaLink(schema.allOf[0].$ref));
  } else if (schema.oneOf || schema.anyOf) {
    (schema.oneOf || schema.anyOf).forEach((choice, i) => {
      if (i) out.appendChild(document.createTextNode(' or '));
      out.appendChild(typeOf(choice));
    });
  } else if (schema.type === 'array') {
    out.appendChild(document.createTextNode('array of '));
    out.appendChild(typeOf(schema.items || {}));
  } else {
    let words = schema.type || 'any';
    if (schema.format === 'binary') words = 'file';
    else if (schema.format === 'byte') words += ' (base64)';
    else if (schema.format) words += ' (' + schema.format + ')';
    out.appendChild(document.createTextNode(words));
  }
  if (schema.nullable) out.appendChild(document.createTextNode(' or null'));
  return out;
}

// Choices a field allows and, unless `described`, its bounds.
function limitsOf(schema, described) {
  const notes = [];
  if (schema.enum) notes.push('one of: ' + schema.enum.map((v) => JSON.stringify(v)).join(', '));
  if (described) return notes.join('; ');
  const low = schema.minimum, high = schema.maximum;
  if (low !== undefined || high !== undefined) {
    const from = low === undefined ? '' : (schema.exclusiveMinimum ? '> ' : '>= ') + low;
    const to = high === undefined ? '' : (schema.exclusiveMaximum ? '< ' : '<= ') + high;
    notes.push([from, to].filter(Boolean).join(', '));
  }
  if (schema.maxItems !== undefined) notes.push('at most ' + schema.maxItems + ' items');
  if (schema.pattern) notes.push('pattern `' + schema.pattern + '`');
  return notes.join('; ');
}

// The properties of an object schema, following $ref and allOf; with what is required.
function propertiesOf(schema) {
  const out = { properties: {}, required: new Set(), description: '' };
  const visit = (s) => {
    s = resolve(s);
    if (!s) return;
    (s.allOf || []).forEach(visit);
    Object.assign(out.properties, s.properties || {});
    (s.required || []).forEach((name) => out.required.add(name));
    if (!out.description && s.description) out.description = s.description;
  };
  visit(schema);
  return out;
}

// A table in a box of its own, so a narrow screen scrolls the table rather than the page.
function tableBox(table) { return element('div', 'table-box', table); }

// One row per field; the fields of an object written in place (not a named schema) follow as
// `outer.inner` (`list[].inner` for a list of them).
function fieldRows(table, schema, prefix, depth) {
  const { properties, required } = propertiesOf(schema);
  for (const [name, field] of Object.entries(properties)) {
    const own = field.$ref ? resolve(field) : field;
    const row = element('tr');
    const cell = element('td', '', element('code', '', prefix + name));
    if (required.has(name)) cell.appendChild(element('span', 'required', ' required'));
    row.appendChild(cell);
    row.appendChild(element('td', '', typeOf(field)));
    row.appendChild(element('td', '', own.default === undefined ? ''
                                      : element('code', '', JSON.stringify(own.default))));
    const about = element('td', '', field.description || '');
    // The descriptions word their ranges; bounds in numbers only where none is written.
    const limits = limitsOf(own, Boolean(field.description));
    if (limits) append(about, (field.description ? ' (' : '(') + limits + ')');
    row.appendChild(about);
    table.appendChild(row);
    if (depth >= 3 || field.$ref) continue;
    if (field.properties) fieldRows(table, field, prefix + name + '.', depth + 1);
    else if (field.items && field.items.properties)
      fieldRows(table, field.items, prefix + name + '[].', depth + 1);
  }
}

function fieldTable(schema) {
  if (!Object.keys(propertiesOf(schema).properties).length) return null;
  const table = element('table');
  const head = element('tr');
  ['field', 'type', 'default', 'description'].forEach((h) => head.appendChild(element('th', '', h)));
  table.appendChild(head);
  fieldRows(table, schema, '', 0);
  return tableBox(table);
}

function parameterTable(parameters) {
  const table = element('table');
  const head = element('tr');
  ['name', 'in', 'type', 'description'].forEach((h) => head.appendChild(element('th', '', h)));
  table.appendChild(head);
  for (const p of parameters.map(resolve)) {
    const row = element('tr');
    const cell = element('td', '', element('code', '', p.name));
    if (p.required) cell.appendChild(element('span', 'required', ' required'));
    row.appendChild(cell);
    row.appendChild(element('td', '', p.in));
    row.appendChild(element('td', '', typeOf(p.schema)));
    row.appendChild(element('td', '', p.description || ''));
    table.appendChild(row);
  }
  return tableBox(table);
}

function requestBody(body) {
  const section = element('div');
  section.appendChild(element('h3', '', 'Request body'));
  for (const [type, media] of Object.entries(resolve(body).content || {})) {
    const title = element('h4', '', element('code', '', type));
    if (media.schema && media.schema.$ref) {
      title.appendChild(document.createTextNode(': '));
      title.appendChild(schemaLink(media.schema.$ref));
    }
    section.appendChild(title);
    const about = propertiesOf(media.schema).description;
    if (about) section.appendChild(element('p', 'hint', about));
    const table = fieldTable(media.schema);
    section.appendChild(table || element('p', 'hint', typeOf(media.schema)));
  }
  return section;
}

function responseTable(responses) {
  const table = element('table');
  const head = element('tr');
  ['status', 'body', 'description'].forEach((h) => head.appendChild(element('th', '', h)));
  table.appendChild(head);
  for (const [status, value] of Object.entries(responses)) {
    const response = resolve(value);
    const row = element('tr');
    row.appendChild(element('td', '', element('code', '', status)));
    const body = element('td');
    for (const [type, media] of Object.entries(response.content || {})) {
      if (body.childNodes.length) body.appendChild(element('br'));
      body.appendChild(typeOf(media.schema));
      body.appendChild(element('span', 'hint', ' ' + type));
    }
    if (!body.childNodes.length) body.appendChild(document.createTextNode('none'));
    row.appendChild(body);
    const about = element('td', '', response.description || '');
    const headers = Object.keys(response.headers || {});
    if (headers.length) append(about, ' Headers: `' + headers.join('`, `') + '`.');
    row.appendChild(about);
    table.appendChild(row);
  }
  return tableBox(table);
}

function needsKey(operation) {
  return !(Array.isArray(operation.security) && operation.security.length === 0);
}

function operationView(path, method, operation, pathParameters) {
  const view = element('details', 'operation');
  view.id = operation.operationId;
  const summary = element('summary');
  summary.appendChild(element('span', 'method ' + method, method.toUpperCase()));
  summary.appendChild(element('span', 'path', path));
  summary.appendChild(element('span', 'summary', operation.summary || ''));
  const open = !needsKey(operation);
  summary.appendChild(element('span', open ? 'key open' : 'key', open ? 'no key' : 'API key'));
  view.appendChild(summary);

  const body = element('div', 'operation-body');
  if (operation.description) body.appendChild(element('p', '', operation.description));
  const parameters = pathParameters.concat(operation.parameters || []);
  if (parameters.length) {
    body.appendChild(element('h3', '', 'Parameters'));
    body.appendChild(parameterTable(parameters));
  }
  if (operation.requestBody) body.appendChild(requestBody(operation.requestBody));
  body.appendChild(element('h3', '', 'Responses'));
  body.appendChild(responseTable(operation.responses || {}));
  view.appendChild(body);
  return view;
}

function schemaView(name, schema) {
  const view = element('div', 'schema');
  view.id = 'schema-' + name;
  view.appendChild(element('h3', '', name));
  const about = propertiesOf(schema).description;
  if (about) view.appendChild(element('p', 'hint', about));
  view.appendChild(fieldTable(schema) || element('p', 'hint', typeOf(schema)));
  return view;
}

function tocLink(href, text) {
  const link = element('a', '', text);
  link.href = href;
  toc.appendChild(link);
}

function render() {
  append(intro, spec.info.description || '');
  const byTag = new Map((spec.tags || []).map((tag) => [tag.name, []]));
  for (const [path, item] of Object.entries(spec.paths)) {
    for (const method of methods) {
      const operation = item[method];
      if (!operation) continue;
      for (const tag of operation.tags || ['other']) {
        if (!byTag.has(tag)) byTag.set(tag, []);
        byTag.get(tag).push({ path, method, operation, parameters: item.parameters || [] });
      }
    }
  }
  for (const [name, operations] of byTag) {
    if (!operations.length) continue;
    const section = element('section', 'tag-section');
    section.id = 'tag-' + name;
    section.appendChild(element('h2', '', name));
    const tag = (spec.tags || []).find((t) => t.name === name);
    if (tag && tag.description) section.appendChild(element('p', 'hint', tag.description));
    for (const o of operations)
      section.appendChild(operationView(o.path, o.method, o.operation, o.parameters));
    api.appendChild(section);
    tocLink('#tag-' + name, name);
  }
  const schemas = element('section');
  schemas.id = 'schemas';
  schemas.appendChild(element('h2', '', 'Schemas'));
  for (const [name, schema] of Object.entries((spec.components || {}).schemas || {}))
    schemas.appendChild(schemaView(name, schema));
  api.appendChild(schemas);
  tocLink('#schemas', 'schemas');
  // A link to one operation or schema opens it.
  const target = location.hash && document.getElementById(location.hash.slice(1));
  if (target) {
    if (target.tagName === 'DETAILS') target.open = true;
    target.scrollIntoView();
  }
}

fetch('/openapi.json')
  .then((response) => {
    if (!response.ok) throw new Error('/openapi.json answered ' + response.status);
    return response.json();
  })
  .then((loaded) => {
    spec = loaded;
    render();
    statusLine.hidden = true;
  })
  .catch((error) => {
    statusLine.textContent = 'The API description could not be read: ' + error.message;
  });
