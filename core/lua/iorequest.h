#pragma once

#include <QByteArray>
#include <QList>
#include <QString>
#include <QStringList>

#include <utility>

// I/O a Lua coroutine waits on (exec, http.*): filled in by the worker that runs the
// call, carried out by an IoCall on the engine thread, whose results the coroutine reads
// when it is resumed. The hand-over through the slice queue orders the two sides.
struct IoRequest
{
    using Headers = QList<std::pair<QByteArray, QByteArray>>;
    enum Kind { Exec, Http };

    Kind kind = Exec;
    QString what; // for stacks and errors: "exec(make test)", "http.get(url)"
    qint64 timeoutMs = -1;

    // exec
    QStringList argv;
    QString workingDirectory;
    Headers environment;
    bool hasStdin = false;
    QByteArray stdinData;

    // http
    QByteArray method;
    QString url;
    Headers headers;
    QByteArray body;
    qint64 maxBody = 64 * 1024 * 1024; // the longest reply body taken; longer fails the call

    // the result, written on the engine thread before the coroutine is woken
    QString error; // a failure that the call raises, naming what failed
    int code = 0;  // exec: exit code (128 + signal when killed)
    int signal = 0;
    QByteArray stdoutData;
    QByteArray stderrData;
    int status = 0; // http
    Headers replyHeaders;
    QByteArray replyBody;
};
