#define EBM_DIGEST_NAME digest_contract_off
#include "noise_digest.inc"
