/**
 * What the commands domain puts on the audit record. The shape is the audit
 * sink's (security/audit/sink.ts), which server/ hands in; this domain depends
 * on the interface only.
 */
export interface CommandAuditRecord {
  action: string;
  actorType: 'user' | 'agent' | 'system';
  actorId: string | null;
  actorIp?: string | null;
  resourceType: 'command_request' | 'command';
  resourceId: string;
  after: Readonly<Record<string, unknown>>;
  success?: boolean;
  error?: string | null;
  at: number;
}

export interface CommandAudit {
  record(entry: CommandAuditRecord): Promise<void>;
}
