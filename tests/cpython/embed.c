/* An embedding program: installs the table `app_modules` (linked in), then
   runs the Python code given as argv[1]. argv[2], if given, is the flags
   argument; argv[3] == "linked" installs every linked table instead. Exit 3
   when a table is refused. */
#include <Python.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "objfreeze_cpython.h"

OBJFREEZE_DECLARE_TABLE(app_modules);

int main(int argc, char **argv) {
    const objfreeze_table *tables[] = {&app_modules};
    PyConfig config;
    PyStatus status;
    int n, rc;
    unsigned flags = argc > 2 ? (unsigned)strtoul(argv[2], NULL, 0) : 0;
    if (argc < 2 || argc > 4) {
        fprintf(stderr, "usage: %s PYTHON-CODE [FLAGS [linked]]\n", argv[0]);
        return 2;
    }
    if (argc == 4 && strcmp(argv[3], "linked") == 0)
        n = objfreeze_cpython_install_linked(flags);
    else
        n = objfreeze_cpython_install(tables, 1, flags);
    if (n < 0) {
        fprintf(stderr, "%s\n", objfreeze_cpython_error());
        return 3;
    }
    printf("installed %d modules\n", n);
    fflush(stdout);
    PyConfig_InitIsolatedConfig(&config);
    config.site_import = 0;
    config.write_bytecode = 0; /* app.on_disk is imported from the source tree */
    status = Py_InitializeFromConfig(&config);
    PyConfig_Clear(&config);
    if (PyStatus_Exception(status)) Py_ExitStatusException(status);
    rc = PyRun_SimpleString(argv[1]);
    if (Py_FinalizeEx() < 0) rc = 120;
    return rc == 0 ? 0 : 1;
}
