#pragma once

#include <QString>
#include <QStringList>

// The cluster's commands (SPEC section 8): `taskdeck worker`, and `submit`, `ps`,
// `cancel`, `wait`, `limits`, `workers` against the Redis named by --redis or
// TASKDECK_REDIS. Each runs on the main thread with a QCoreApplication; exit statuses
// as the local commands: 0 done, 1 failure (a task did not succeed, an unknown id, no
// Redis), 2 usage error.
class ClusterCommand
{
public:
    enum { Success = 0, Failure = 1, UsageError = 2 };

    // Whether `command` with `arguments` goes to the cluster: worker, wait, limits and
    // workers always; submit, ps and cancel when --redis or TASKDECK_REDIS is given.
    static bool isCommand(const QString &command, const QStringList &arguments);
    static int run(const QString &command, const QStringList &arguments);
};
