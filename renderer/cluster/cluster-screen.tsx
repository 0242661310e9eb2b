/**
 * The Cluster screen (issue 11): every node the roster knows, whether it has been seen on the
 * network since its stick was made, the ssh command for each, exports, and re-flashing a node
 * on purpose. The roster is main's (app/roster, shared with the zflash command); this screen
 * reads it through roster:list and follows roster:changed.
 */
import { useEffect, useRef } from 'react';
import type { ExportFormat, RosterNode } from '../lib/api.js';
import { formatSize } from '../lib/format.js';
import { CopyText, ErrorBox, Notices } from '../components/common.js';
import { useActions, useApp } from '../store/context.js';

const EXPORTS: readonly { format: ExportFormat; label: string; says: string }[] = [
  { format: 'ssh-config', label: 'SSH config', says: 'Host entries for ~/.ssh/config' },
  { format: 'csv', label: 'CSV', says: 'a spreadsheet of the nodes' },
  { format: 'json', label: 'JSON', says: 'the roster as data' },
  { format: 'colmena', label: 'Colmena hive', says: 'hive.nix, to deploy NixOS to the nodes' },
];

function Status({ node }: { readonly node: RosterNode }) {
  if (node.online)
    return (
      <span className="badge eligible" data-status="online">
        Online at {node.online.address}
      </span>
    );
  return (
    <span className="badge used" data-status="not-seen">
      {node.status === 're-flashed' ? 'Re-flashed' : 'Flashed'}, not seen yet
    </span>
  );
}

function NodeRow({ node, busy }: { readonly node: RosterNode; readonly busy: boolean }) {
  const a = useActions();
  const medium =
    node.medium.kind === 'drive'
      ? `${node.medium.model ?? 'stick'} ${node.medium.device}${node.medium.size ? ` (${formatSize(node.medium.size)})` : ''}`
      : node.medium.path;
  return (
    <li className="node-row" data-testid="roster-node" data-hostname={node.hostname}>
      <div className="node-head">
        <p className="node-name">{node.hostname}</p>
        <Status node={node} />
      </div>
      <p className="muted">
        {node.roles.length ? `${node.roles.join(', ')} · ` : ''}
        flashed {node.flashedAt.slice(0, 16).replace('T', ' ')} UTC on {medium} · {node.keys.length}{' '}
        key{node.keys.length === 1 ? '' : 's'}
        {node.history.length ? ` · flashed ${node.history.length + 1} times` : ''}
      </p>
      <div className="row">
        <CopyText
          text={`ssh zeta@${node.hostname}.local`}
          label={`the ssh command for ${node.hostname}`}
        />
        <button
          type="button"
          className="button"
          disabled={busy}
          onClick={() => void a.reflashNode(node.hostname)}
          aria-label={`Re-flash ${node.hostname}`}
        >
          Re-flash…
        </button>
      </div>
    </li>
  );
}

export function ClusterScreen() {
  const cluster = useApp((s) => s.cluster);
  // A re-flash starts at the stick step: not while a stick is being written.
  const busy = useApp(
    (s) => s.shell.step.kind === 'flashing' || s.shell.step.kind === 'flashing-many',
  );
  const a = useActions();
  const heading = useRef<HTMLHeadingElement>(null);
  useEffect(() => heading.current?.focus(), []);
  const nodes = cluster.view?.nodes ?? [];
  const online = nodes.filter((n) => n.online).length;

  return (
    <main className="main">
      <section className="step" data-testid="cluster" aria-labelledby="cluster-title">
        <h1 id="cluster-title" ref={heading} tabIndex={-1}>
          Your cluster
        </h1>
        <p className="intro">
          {nodes.length === 0
            ? 'No node has been flashed yet. Each stick you make is listed here.'
            : `${nodes.length} node${nodes.length === 1 ? '' : 's'}, ${online} seen online since its stick was made.`}
        </p>
        {cluster.error ? <ErrorBox error={cluster.error} /> : null}
        {cluster.view ? <Notices notices={cluster.view.notices} /> : null}
        {nodes.length ? (
          <ul className="nodes" aria-label="Nodes">
            {[...nodes]
              .sort((x, y) => x.hostname.localeCompare(y.hostname, 'en', { numeric: true }))
              .map((n) => (
                <NodeRow key={n.hostname} node={n} busy={busy} />
              ))}
          </ul>
        ) : null}
        {nodes.length ? (
          <fieldset>
            <legend>Export the cluster</legend>
            <div className="row exports">
              {EXPORTS.map((e) => (
                <button
                  key={e.format}
                  type="button"
                  className="button"
                  onClick={() => void a.exportRoster(e.format)}
                  title={e.says}
                >
                  {e.label}…
                </button>
              ))}
            </div>
            <p role="status" className="muted" data-testid="export-message">
              {cluster.message ?? ''}
            </p>
          </fieldset>
        ) : null}
        {cluster.view?.path ? (
          <p className="muted">
            The roster is kept in <code>{cluster.view.path}</code>, shared with the{' '}
            <code>zflash</code> command.
          </p>
        ) : cluster.view ? (
          <p className="muted">The roster is turned off: flashed nodes are not remembered.</p>
        ) : null}
        <div className="actions">
          <span />
          <div className="actions-right">
            <button type="button" className="button primary" onClick={a.closeCluster}>
              Back to flashing
            </button>
          </div>
        </div>
      </section>
    </main>
  );
}
