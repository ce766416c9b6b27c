/* tests/unit/xlate_purity.c: linked with the whole translation core (ccproxy_xlate) and only jansson
 * and OpenSSL (CMakeLists.txt, xlate_purity): if any translator called an I/O module, this would not
 * link. Running it checks nothing more. */
#include <stdio.h>

#include "cp_prov.h"

int main(void)
{
    cp_provider_t p = {0};

    p.style = CP_STYLE_OPENAI;
    printf("translation core: %s adapter linked alone\n", cp_prov_ops(&p)->name);
    return 0;
}
