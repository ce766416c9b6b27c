/* lib/prov/openai/cp_prov_openai.h: the adapter for OpenAI Chat Completions servers (every flavor). */
#ifndef CP_PROV_OPENAI_H
#define CP_PROV_OPENAI_H

#include "cp_prov.h"

extern const cp_prov_ops_t cp_prov_openai;

#endif
