import type { ProcessInfo } from '../../api/types.js';
import { count, percent } from '../../lib/format.js';

function ProcessTable({ title, items }: { title: string; items: ProcessInfo[] }) {
  return (
    <div className="table-scroll">
      <table>
        <caption>{title}</caption>
        <thead>
          <tr>
            <th scope="col">Process</th>
            <th scope="col" className="num">
              PID
            </th>
            <th scope="col" className="num">
              CPU
            </th>
            <th scope="col" className="num">
              Memory
            </th>
          </tr>
        </thead>
        <tbody>
          {items.map((p, i) => (
            <tr key={`${p.pid}-${i}`}>
              <td className="wrap">{p.name}</td>
              <td className="num">{p.pid}</td>
              <td className="num">{percent(p.cpu)}</td>
              <td className="num">{percent(p.mem)}</td>
            </tr>
          ))}
        </tbody>
      </table>
    </div>
  );
}

/** The heaviest processes of the newest report, by CPU and by memory. */
export function Processes({ processes }: { processes: { count: number; topCpu?: ProcessInfo[]; topMemory?: ProcessInfo[] } | undefined }) {
  return (
    <section className="card" aria-labelledby="procs-title">
      <h2 id="procs-title">Top processes</h2>
      {!processes ? (
        <p className="muted">No process information reported yet.</p>
      ) : (
        <>
          <p className="muted">{count(processes.count)} processes running.</p>
          <div className="two-col">
            <ProcessTable title="By CPU" items={processes.topCpu ?? []} />
            <ProcessTable title="By memory" items={processes.topMemory ?? []} />
          </div>
        </>
      )}
    </section>
  );
}
