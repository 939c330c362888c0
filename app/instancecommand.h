#pragma once

#include <QString>
#include <QStringList>

// `taskdeck submit`, `taskdeck ps` and `taskdeck cancel`: the command line's side of the
// instance protocol, asking the dashboard running for a data directory (SPEC section 5
// style: --json, --help, exit 0 / 1 / 2). Blocking, on the main thread; needs a
// QCoreApplication but no event loop.
class InstanceCommand
{
public:
    enum { Success = 0, Failure = 1, UsageError = 2 };

    static bool isCommand(const QString &name);
    // Runs `command` ("submit", "ps" or "cancel") with the arguments after it; returns
    // the exit status.
    static int run(const QString &command, const QStringList &arguments);
};
