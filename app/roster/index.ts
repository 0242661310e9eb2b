/** The cluster roster: which stick became which node, its exports, and nodes coming online. */
export * from './schema.js';
export * from './paths.js';
export * from './names.js';
export * from './record.js';
export { acquireLock, withLock, type LockOptions } from './lock.js';
export {
  backupPath,
  findNode,
  lockPath,
  markOnline,
  openRoster,
  preferredAddress,
  recordFlash,
  setNodeMac,
  updateRoster,
  writeFileAtomic,
  type OpenedRoster,
  type RecordOptions,
  type MarkOnlineOptions,
} from './store.js';
export * from './export.js';
export {
  browseNodes,
  NODE_SERVICE_TYPES,
  openMdnsSocket,
  sightingsIn,
  type BrowseOptions,
  type MdnsSocket,
  type NodeSighting,
} from './mdns.js';
