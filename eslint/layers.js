/**
 * The import rule of the layers (docs/architecture.md): for each top-level
 * folder of src/, the folders it MAY import. Anything not listed is refused,
 * including a folder with no entry at all, so a new folder must declare its
 * place. Only relative specifiers are layers; npm packages are not (a package
 * named `@simplewebauthn/server` is not our server/).
 */
import { dirname, relative, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';

const SRC = resolve(dirname(fileURLToPath(import.meta.url)), '..', 'src');

export const LAYERS = {
  lib: [],
  protocol: ['lib'],
  config: ['lib'],
  store: ['lib'],
  perimeter: ['lib', 'protocol', 'store', 'config'],
  identity: ['lib', 'protocol', 'store', 'config'],
  fleet: ['lib', 'protocol', 'store', 'config'],
  commands: ['lib', 'protocol', 'store', 'config'],
  security: ['lib', 'protocol', 'store', 'config', 'identity'],
  server: ['lib', 'protocol', 'store', 'config', 'perimeter', 'identity', 'fleet', 'commands', 'security'],
  agent: ['lib', 'protocol'],
  cli: ['lib', 'protocol', 'store', 'config', 'perimeter', 'identity', 'fleet', 'commands', 'security', 'server', 'agent'],
  // The dashboard speaks HTTP; from the server's code it shares only pure helpers (its route table).
  web: ['lib'],
};

/** Edges allowed for `import type` only: the types of a sibling domain's events, never its code. */
export const TYPE_ONLY = {
  security: ['perimeter'],
};

export function layerOf(file) {
  const rel = relative(SRC, file);
  if (rel.startsWith('..') || rel === '' || !rel.includes(sep)) return null;
  return rel.split(sep)[0];
}

export const layersRule = {
  meta: {
    type: 'problem',
    docs: { description: 'each folder of src/ imports only the folders its layer allows' },
    schema: [],
    messages: {
      forbidden: '{{from}}/ may not import {{to}}/ (it may import: {{allowed}})',
      typeOnly: '{{from}}/ may import only types from {{to}}/: use `import type`',
      undeclared: 'src/{{from}}/ has no entry in the layer rules (eslint/layers.js)',
      computed: 'a dynamic import() with a computed path cannot be checked against the layer rules',
    },
  },
  create(context) {
    const file = context.filename;
    const from = layerOf(file);
    if (from === null) return {};
    const allowed = LAYERS[from];
    if (allowed === undefined) {
      return { Program: (node) => context.report({ node, messageId: 'undeclared', data: { from } }) };
    }
    const check = (node, source, typeOnly) => {
      if (typeof source !== 'string' || !source.startsWith('.')) return;
      const to = layerOf(resolve(dirname(file), source));
      if (to === null || to === from || allowed.includes(to)) return;
      if (typeOnly && (TYPE_ONLY[from] ?? []).includes(to)) return;
      const data = { from, to, allowed: allowed.length > 0 ? allowed.join(', ') : 'nothing outside itself' };
      context.report({ node, messageId: (TYPE_ONLY[from] ?? []).includes(to) ? 'typeOnly' : 'forbidden', data });
    };
    return {
      ImportDeclaration: (node) => check(node, node.source.value, node.importKind === 'type'),
      ExportNamedDeclaration: (node) => node.source && check(node, node.source.value, node.exportKind === 'type'),
      ExportAllDeclaration: (node) => check(node, node.source.value, node.exportKind === 'type'),
      ImportExpression: (node) => {
        if (node.source.type === 'Literal') check(node, node.source.value, false);
        else if (node.source.type === 'TemplateLiteral' && node.source.expressions.length === 0) check(node, node.source.quasis[0].value.cooked, false);
        else context.report({ node, messageId: 'computed' });
      },
      // `typeof import('../x.js')` in a type position.
      TSImportType: (node) => {
        const literal = node.argument?.literal ?? node.argument;
        if (literal && typeof literal.value === 'string') check(node, literal.value, true);
      },
    };
  },
};

export const layersPlugin = { rules: { layers: layersRule } };
