/* lib/prov/anthropic/cp_prov_anthropic.h: the adapter for Anthropic Messages servers (passthrough). */
#ifndef CP_PROV_ANTHROPIC_H
#define CP_PROV_ANTHROPIC_H

#include "cp_prov.h"

extern const cp_prov_ops_t cp_prov_anthropic;

#endif
