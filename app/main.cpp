// Taskdeck's entry point: `taskdeck run ...` runs headless; anything else opens the
// dashboard with the given files submitted.
#include "runcommand.h"
#include "mainwindow.h"
#include "engine.h"

#include <QApplication>
#include <QCoreApplication>

#include <cstdio>
#include <cstring>

int main(int argc, char *argv[])
{
    if (argc >= 2 && std::strcmp(argv[1], "run") == 0) {
        QCoreApplication app(argc, argv);
        QCoreApplication::setApplicationName(QStringLiteral("taskdeck"));
        QCoreApplication::setApplicationVersion(QStringLiteral(TASKDECK_VERSION));
        RunCommand run;
        const int status = run.start(app.arguments().mid(2));
        if (status >= 0)
            return status;
        return app.exec();
    }
    for (int i = 1; i < argc; ++i) {
        if (std::strcmp(argv[i], "--version") == 0) {
            std::puts("taskdeck " TASKDECK_VERSION);
            return 0;
        }
        if (std::strcmp(argv[i], "--help") == 0 || std::strcmp(argv[i], "-h") == 0) {
            std::puts("Usage: taskdeck [FILE...]          open the dashboard, FILEs submitted\n"
                      "       taskdeck run [options] FILE...  run headless (see taskdeck run "
                      "--help)\n"
                      "       taskdeck --version");
            return 0;
        }
    }
    QApplication app(argc, argv);
    QApplication::setApplicationName(QStringLiteral("taskdeck"));
    QApplication::setOrganizationName(QStringLiteral("Taskdeck"));
    QApplication::setApplicationVersion(QStringLiteral(TASKDECK_VERSION));
    QApplication::setDesktopFileName(QStringLiteral("taskdeck"));
    Engine engine;
    MainWindow window(&engine);
    window.restoreSettings();
    window.show();
    window.submitFiles(app.arguments().mid(1));
    return app.exec();
}
