/* An embedding program: installs the table `app_modules` (linked in), then
   runs the Python code given as argv[1]. Exit 3 when the table is refused. */
#include <Python.h>

#include <stdio.h>

#include "objfreeze_cpython.h"

OBJFREEZE_DECLARE_TABLE(app_modules);

int main(int argc, char **argv) {
    const objfreeze_table *tables[] = {&app_modules};
    PyConfig config;
    PyStatus status;
    int n, rc;
    if (argc != 2) {
        fprintf(stderr, "usage: %s PYTHON-CODE\n", argv[0]);
        return 2;
    }
    n = objfreeze_cpython_install(tables, 1, 0);
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
