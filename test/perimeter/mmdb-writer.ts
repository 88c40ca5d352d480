/**
 * A minimal MaxMind DB writer for tests: an IPv4 tree with 24-bit records and
 * GeoLite2-Country shaped data (`country.iso_code`), so the MaxMind schema can
 * be tested without shipping MaxMind's licensed files. Format:
 * https://maxmind.github.io/MaxMind-DB/
 */
type Leaf = { offset: number };
type TreeNode = { id: number; children: [TreeNode | Leaf | null, TreeNode | Leaf | null] };

function control(type: number, size: number): Buffer {
  if (size > 284) throw new Error('sizes over 284 are not needed here');
  // Sizes 29..284 take one extra byte holding size - 29.
  const [bits, extra] = size < 29 ? [size, []] : [29, [size - 29]];
  return Buffer.from(type <= 7 ? [(type << 5) | bits, ...extra] : [bits, type - 7, ...extra]);
}

function uint(type: number, value: number | bigint): Buffer {
  const bytes: number[] = [];
  for (let v = BigInt(value); v > 0n; v >>= 8n) bytes.unshift(Number(v & 0xffn));
  return Buffer.concat([control(type, bytes.length), Buffer.from(bytes)]);
}

type Value = string | { uint16: number } | { uint32: number } | { uint64: bigint } | Value[] | { [key: string]: Value };

function encode(value: Value): Buffer {
  if (typeof value === 'string') return Buffer.concat([control(2, Buffer.byteLength(value)), Buffer.from(value)]);
  if (Array.isArray(value)) return Buffer.concat([control(11, value.length), ...value.map(encode)]);
  if ('uint16' in value && typeof value.uint16 === 'number') return uint(5, value.uint16);
  if ('uint32' in value && typeof value.uint32 === 'number') return uint(6, value.uint32);
  if ('uint64' in value && typeof value.uint64 === 'bigint') return uint(9, value.uint64);
  const entries = Object.entries(value as Record<string, Value>);
  return Buffer.concat([control(7, entries.length), ...entries.flatMap(([k, v]) => [encode(k), encode(v)])]);
}

/** networks: `a.b.c.d/len` -> ISO country code. */
export function writeCountryMmdb(networks: Record<string, string>): Buffer {
  const data: Buffer[] = [];
  const offsets = new Map<string, number>();
  let dataLength = 0;
  const offsetOf = (country: string) => {
    let offset = offsets.get(country);
    if (offset === undefined) {
      const record = encode({ country: { iso_code: country, names: { en: country } }, registered_country: { iso_code: country } });
      offset = dataLength;
      data.push(record);
      dataLength += record.length;
      offsets.set(country, offset);
    }
    return offset;
  };

  const root: TreeNode = { id: 0, children: [null, null] };
  for (const [cidr, country] of Object.entries(networks)) {
    const [address = '', bitsText = '32'] = cidr.split('/');
    const bits = Number(bitsText);
    const value = address.split('.').reduce((acc, octet) => (acc << 8n) | BigInt(Number(octet)), 0n);
    let node = root;
    for (let i = 0; i < bits; i++) {
      const bit = Number((value >> BigInt(31 - i)) & 1n) as 0 | 1;
      if (i === bits - 1) {
        node.children[bit] = { offset: offsetOf(country) };
        break;
      }
      const child = node.children[bit];
      if (child && 'children' in child) node = child;
      else {
        const created: TreeNode = { id: 0, children: [null, null] };
        node.children[bit] = created;
        node = created;
      }
    }
  }
  const nodes: TreeNode[] = [];
  for (const queue = [root]; queue.length > 0; ) {
    const node = queue.shift() as TreeNode;
    node.id = nodes.length;
    nodes.push(node);
    for (const child of node.children) if (child && 'children' in child) queue.push(child);
  }
  const nodeCount = nodes.length;
  const tree = Buffer.alloc(nodeCount * 6);
  nodes.forEach((node, index) => {
    node.children.forEach((child, side) => {
      const record = child === null ? nodeCount : 'children' in child ? child.id : nodeCount + 16 + child.offset;
      tree.writeUIntBE(record, index * 6 + side * 3, 3);
    });
  });
  const metadata = encode({
    node_count: { uint32: nodeCount },
    record_size: { uint16: 24 },
    ip_version: { uint16: 4 },
    database_type: 'GeoLite2-Country',
    languages: ['en'],
    binary_format_major_version: { uint16: 2 },
    binary_format_minor_version: { uint16: 0 },
    build_epoch: { uint64: 1_700_000_000n },
    description: { en: 'Flotilla test data in the GeoLite2-Country layout' },
  });
  return Buffer.concat([tree, Buffer.alloc(16), ...data, Buffer.from([0xab, 0xcd, 0xef]), Buffer.from('MaxMind.com'), metadata]);
}
