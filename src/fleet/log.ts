/** The little of a logger the fleet needs (pino's Logger fits). */
export interface FleetLog {
  error(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
}
