// Manifest objects written as YAML for the editor: block style, keys in the object's order, a string quoted
// (as JSON, which YAML reads the same) whenever plain YAML could read it as something else. Reading YAML
// back is the server's job (POST /api/v1/manifests/parse), so both directions agree with apply.

const PLAIN_KEY = /^[A-Za-z_][A-Za-z0-9_.-]*$/;
const PLAIN = /^[A-Za-z_/][A-Za-z0-9_ ./:@+=-]*$/;
const RESERVED = /^(true|false|null|yes|no|on|off|y|n|~)$/i;

function scalar(v) {
  if (v === null || v === undefined) return 'null';
  if (typeof v === 'number' || typeof v === 'boolean') return String(v);
  const s = String(v);
  const plain = PLAIN.test(s) && !RESERVED.test(s) && !/: |:$| #|\s$/.test(s);
  return plain ? s : JSON.stringify(s);
}

const isObj = (v) => v !== null && typeof v === 'object' && !Array.isArray(v);
const isEmpty = (v) => (Array.isArray(v) ? !v.length : !Object.keys(v).some((k) => v[k] !== undefined));

/** `v` after a key or a dash: a scalar on the same line, or a block on the lines below indented by `ind`. */
function block(v, ind) {
  if (Array.isArray(v)) {
    if (!v.length) return ' []';
    return v.map((item) => {
      if ((Array.isArray(item) || isObj(item)) && !isEmpty(item)) {
        // The item's first line goes on the dash's line.
        return `\n${ind}- ${block(item, `${ind}  `).replace(/^\n\s*/, '')}`;
      }
      return `\n${ind}-${block(item, `${ind}  `)}`;
    }).join('');
  }
  if (isObj(v)) {
    const keys = Object.keys(v).filter((k) => v[k] !== undefined);
    if (!keys.length) return ' {}';
    return keys.map((k) => `\n${ind}${PLAIN_KEY.test(k) ? k : JSON.stringify(k)}:${block(v[k], `${ind}  `)}`).join('');
  }
  return ` ${scalar(v)}`;
}

/** A copy of `obj` with `keys` first, in that order (those it has), then its others. */
export function ordered(obj, keys) {
  const out = {};
  for (const k of keys) if (obj[k] !== undefined) out[k] = obj[k];
  for (const k of Object.keys(obj)) if (!(k in out)) out[k] = obj[k];
  return out;
}

/** One manifest object as a YAML document. */
export function toYaml(obj) {
  return `${block(obj, '').replace(/^\n/, '')}\n`;
}
