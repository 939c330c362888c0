#pragma once

#include <QByteArray>
#include <QList>
#include <QString>

#include <utility>

using TaskId = quint64;

enum class ScriptKind : quint8 {
    Lua,
    Process,
};

// What a user submits: a script file and its directives (SPEC section 1), after the
// submit-time overrides. A value type; one spec may be shared by many tasks (--repeat).
struct TaskSpec
{
    QString file; // absolute path
    ScriptKind kind = ScriptKind::Lua;
    QStringList command; // process tasks: the argv that runs the script
    QString name;
    int priority = 0;
    QString group = QStringLiteral("default");
    qint64 timeoutMs = -1; // -1: none
    int retries = 0;
    qint64 retryDelayMs = 1000;
    qint64 memoryBytes = 0; // 0: none
    QList<std::pair<QString, QString>> args;
    QByteArray source;         // Lua tasks: the script's text
    bool deadlockWarn = false; // `@deadlock warn`: a deadlock is logged, not a failure
};
