/* lib/prov/openai/cp_oai_names.h: tool names as sent upstream <-> the client's names.
 *
 * OpenAI-style function names must match ^[a-zA-Z0-9_-]{1,64}$; Claude Code's MCP tools often do not
 * (mcp__server__tool names longer than 64 bytes, dots). Such names are shortened reversibly for one
 * request, and the answer's calls are mapped back. Pure. */
#ifndef CP_OAI_NAMES_H
#define CP_OAI_NAMES_H

#include <jansson.h>

#define CP_OAI_NAME_MAX 64 /* OpenAI function names: ^[a-zA-Z0-9_-]{1,64}$ */

typedef struct cp_oai_names cp_oai_names_t;

/* Returns new, empty. */
cp_oai_names_t *cp_oai_names_new(void);
void cp_oai_names_free(cp_oai_names_t *m); /* accepts NULL */

/* Reserves every tool name of the Anthropic request <anth> that needs no renaming (tools,
 * tool_choice, history) before any shortened name is chosen, so the result does not depend on the
 * order names are met. */
void cp_oai_names_reserve(cp_oai_names_t *m, const json_t *anth);

/* The name to send upstream for the client's <name>: itself when valid, else its shortened form
 * (remembered). Borrowed from <name> or <m>. */
const char *cp_oai_name_sent(cp_oai_names_t *m, const char *name);

/* Returns the client's name for <sent>, or <sent> itself when it was not renamed. Accepts map NULL. */
const char *cp_oai_names_original(const cp_oai_names_t *m, const char *sent);

/* True for the characters allowed in a function name (and in tool-call ids): [A-Za-z0-9_-]. */
int cp_oai_name_char(char c);

#endif
