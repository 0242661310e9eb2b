// A stand-in for Avahi on a freshly installed Zeta node, for the network-namespace test:
//   node mdns-responder.mjs HOSTNAME ADDRESS MODE
// It publishes what nixos/modules/common.nix makes Avahi publish: an A record for
// HOSTNAME.local and a `_workstation._tcp` service (SRV to HOSTNAME.local, TXT, A as
// additional records), plus `_ssh._tcp`. MODE:
//   answer    answers queries, as a node that is already up
//   announce  answers nothing; once it hears the first query (the watcher is listening) it
//             waits half a second and announces its records unasked, as Avahi does when a
//             node boots
// Prints "ready" once its socket is bound. Stops on SIGTERM.
import makeMdns from 'multicast-dns';

const [host, address, mode] = process.argv.slice(2);
const fqdn = `${host}.local`;
const mdns = makeMdns();
const mac = '52:54:00:12:34:56';

function services(type) {
  const instance = `${host} [${mac}].${type}`;
  return {
    answers: [{ name: type, type: 'PTR', ttl: 4500, data: instance }],
    additionals: [
      {
        name: instance,
        type: 'SRV',
        ttl: 120,
        flush: true,
        data: { target: fqdn, port: type.startsWith('_ssh') ? 22 : 9, priority: 0, weight: 0 },
      },
      { name: instance, type: 'TXT', ttl: 4500, flush: true, data: [] },
      { name: fqdn, type: 'A', ttl: 120, flush: true, data: address },
    ],
  };
}

let heard = false;
mdns.on('query', (q) => {
  if (mode === 'announce') {
    if (heard) return;
    heard = true;
    setTimeout(() => {
      const ws = services('_workstation._tcp.local');
      mdns.respond({
        answers: [{ name: fqdn, type: 'A', ttl: 120, flush: true, data: address }, ...ws.answers],
        additionals: ws.additionals,
      });
    }, 500);
    return;
  }
  for (const question of q.questions) {
    const name = question.name.toLowerCase();
    if (name === fqdn && (question.type === 'A' || question.type === 'ANY'))
      mdns.respond({ answers: [{ name: fqdn, type: 'A', ttl: 120, flush: true, data: address }] });
    else if (
      (name === '_workstation._tcp.local' || name === '_ssh._tcp.local') &&
      question.type === 'PTR'
    )
      mdns.respond(services(name));
  }
});
mdns.on('ready', () => process.stdout.write('ready\n'));
mdns.on('error', (err) => {
  process.stderr.write(`responder: ${err.message}\n`);
  process.exit(1);
});
process.on('SIGTERM', () => mdns.destroy(() => process.exit(0)));
