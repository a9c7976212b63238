// Public surface of @longshore/ledger: the claim ledger port and its Redis adapter.
export {
  type Adopted,
  type AllClaimsOptions,
  type ClaimLedger,
  type ClaimRecord,
  type ClaimStep,
  LedgerConflictError,
  LedgerCorruptError,
  type LedgerGeneration,
  type PendingClaim,
  type RebuildNote,
  RedisClaimLedger,
  type RedisClaimLedgerOptions,
} from './ledger.ts';
