/**
 * How many sticks one flash writes at most: the engine's MAX_JOB_DRIVES (app/helper/protocol.ts),
 * repeated here because the renderer may not import the engine; parity.test.ts pins the two.
 */
export const MAX_STICKS_PER_FLASH = 16;
