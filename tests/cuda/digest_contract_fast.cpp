#define EBM_DIGEST_NAME digest_contract_fast
#include "noise_digest.inc"
