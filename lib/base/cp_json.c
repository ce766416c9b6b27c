/* lib/base/cp_json.c: see cp_json.h. */
#include "cp_json.h"

#include <stdlib.h>

#define JSON_INT_DIGITS 18 /* an integer of up to 18 digits always fits in 64 bits */

/* Returns new: <buf> with ".0" after every integer literal (outside strings) of more than 18 digits. */
static char *json_widen(const char *buf, size_t len, size_t *out_len)
{
    cp_buf_t b = CP_BUF_INIT;
    size_t i = 0;
    int in_str = 0;

    while (i < len) {
        char c = buf[i];

        if (in_str) {
            cp_buf_addc(&b, c);
            if (c == '\\' && i + 1 < len)
                cp_buf_addc(&b, buf[++i]);
            else if (c == '"')
                in_str = 0;
            i++;
        } else if (c == '"') {
            in_str = 1;
            cp_buf_addc(&b, c);
            i++;
        } else if ((c >= '0' && c <= '9') || c == '-') {
            size_t j = i + (c == '-'), digits;
            int is_int;

            while (j < len && buf[j] >= '0' && buf[j] <= '9')
                j++;
            digits = j - i - (c == '-');
            is_int = j >= len || (buf[j] != '.' && buf[j] != 'e' && buf[j] != 'E');
            cp_buf_add(&b, buf + i, j - i);
            if (is_int && digits > JSON_INT_DIGITS)
                CP_BUF_LIT(&b, ".0");
            i = j;
        } else {
            cp_buf_addc(&b, c);
            i++;
        }
    }
    return cp_buf_detach(&b, out_len);
}

json_t *cp_json_loadb(const char *buf, size_t len, size_t flags, json_error_t *err)
{
    json_error_t e;
    json_t *j = json_loadb(buf, len, flags, &e); /* owned; returned */
    char *wide;
    size_t wlen;

    if (j != NULL || strstr(e.text, "too big") == NULL) {
        if (err != NULL)
            *err = e;
        return j;
    }
    wide = json_widen(buf, len, &wlen);
    j = json_loadb(wide, wlen, flags, err);
    free(wide);
    return j;
}
