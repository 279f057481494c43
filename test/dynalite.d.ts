// dynalite 4 ships no type declarations.
declare module 'dynalite' {
  import type { Server } from 'http';
  function dynalite(options?: { createTableMs?: number; deleteTableMs?: number; updateTableMs?: number; path?: string }): Server;
  export = dynalite;
}
