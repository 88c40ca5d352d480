import type { MachineDetail } from '../../api/types.js';
import { bytes, dateTime, DASH, duration, percent } from '../../lib/format.js';

function Fact({ label, value }: { label: string; value: string | number | null | undefined }) {
  return (
    <div className="fact">
      <dt>{label}</dt>
      <dd>{value === null || value === undefined || value === '' ? DASH : String(value)}</dd>
    </div>
  );
}

/** What the machine is: everything here is agent-supplied text, rendered as text. */
export function Facts({ machine }: { machine: MachineDetail }) {
  const f = machine.facts;
  const latest = machine.latest;
  return (
    <section className="card" aria-labelledby="facts-title">
      <h2 id="facts-title">Facts</h2>
      <dl className="facts">
        <Fact label="Operating system" value={f.os} />
        <Fact label="Platform" value={f.platform} />
        <Fact label="Architecture" value={f.arch} />
        <Fact label="Kernel" value={f.kernel} />
        <Fact label="CPU" value={f.cpuModel ? `${f.cpuModel}${f.cpuCores ? ` (${f.cpuCores} cores)` : ''}` : f.cpuCores ? `${f.cpuCores} cores` : null} />
        <Fact label="Memory" value={f.memoryBytes !== undefined ? bytes(f.memoryBytes) : null} />
        <Fact label="Serial" value={f.serial} />
        <Fact label="Agent version" value={machine.agentVersion ?? f.agentVersion} />
        <Fact label="Enrolled" value={dateTime(machine.enrolledAt)} />
        <Fact label="Last seen" value={dateTime(machine.lastSeenAt)} />
        <Fact label="Uptime" value={latest?.uptimeSeconds !== undefined ? duration(latest.uptimeSeconds) : null} />
        <Fact label="Load (1/5/15 min)" value={latest?.cpu?.load ? latest.cpu.load.map((l) => l.toFixed(2)).join(' / ') : null} />
        {latest?.temperature && <Fact label="CPU temperature" value={`${latest.temperature.cpuCelsius.toFixed(0)} °C`} />}
        {latest?.battery && <Fact label="Battery" value={`${percent(latest.battery.percent)}${latest.battery.charging ? ', charging' : ''}`} />}
      </dl>
    </section>
  );
}

export function Disks({ machine }: { machine: MachineDetail }) {
  const usage = machine.latest?.disks ?? [];
  const devices = machine.facts.disks ?? [];
  return (
    <section className="card" aria-labelledby="disks-title">
      <h2 id="disks-title">Disks</h2>
      {usage.length === 0 && devices.length === 0 ? (
        <p className="muted">No disks reported.</p>
      ) : (
        <div className="table-scroll">
          <table>
            <caption className="visually-hidden">File systems and devices</caption>
            <thead>
              <tr>
                <th scope="col">Mount / device</th>
                <th scope="col">Type</th>
                <th scope="col" className="num">
                  Used
                </th>
                <th scope="col" className="num">
                  Size
                </th>
              </tr>
            </thead>
            <tbody>
              {usage.map((d, i) => (
                <tr key={`m-${i}`}>
                  <td className="wrap">{d.mount}</td>
                  <td>{d.fs ?? DASH}</td>
                  <td className="num">{d.totalBytes > 0 ? percent((d.usedBytes / d.totalBytes) * 100) : DASH}</td>
                  <td className="num">{bytes(d.totalBytes)}</td>
                </tr>
              ))}
              {devices.map((d, i) => (
                <tr key={`d-${i}`}>
                  <td className="wrap">
                    {d.name}
                    {d.model ? ` (${d.model})` : ''}
                  </td>
                  <td>{d.type ?? DASH}</td>
                  <td className="num">{DASH}</td>
                  <td className="num">{d.sizeBytes !== undefined ? bytes(d.sizeBytes) : DASH}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}

export function Interfaces({ machine }: { machine: MachineDetail }) {
  const interfaces = machine.facts.interfaces ?? [];
  const counters = new Map((machine.latest?.network ?? []).map((n) => [n.iface, n]));
  return (
    <section className="card" aria-labelledby="ifaces-title">
      <h2 id="ifaces-title">Network interfaces</h2>
      {interfaces.length === 0 ? (
        <p className="muted">No interfaces reported.</p>
      ) : (
        <div className="table-scroll">
          <table>
            <caption className="visually-hidden">Network interfaces and addresses</caption>
            <thead>
              <tr>
                <th scope="col">Name</th>
                <th scope="col">MAC</th>
                <th scope="col">Addresses</th>
                <th scope="col" className="num">
                  Received / sent
                </th>
              </tr>
            </thead>
            <tbody>
              {interfaces.map((n, i) => {
                const c = counters.get(n.name);
                return (
                  <tr key={i}>
                    <td className="wrap">{n.name}</td>
                    <td>{n.mac ?? DASH}</td>
                    <td className="wrap">{n.addresses.length > 0 ? n.addresses.join(', ') : DASH}</td>
                    <td className="num">{c ? `${bytes(c.rxBytes)} / ${bytes(c.txBytes)}` : DASH}</td>
                  </tr>
                );
              })}
            </tbody>
          </table>
        </div>
      )}
    </section>
  );
}
