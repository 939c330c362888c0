#pragma once

#include "engine.h"
#include "scriptloader.h"

#include <QList>
#include <QProcessEnvironment>
#include <QTemporaryDir>

// What one run of a program left behind.
struct ProgramRun
{
    bool finished = false; // false: killed at the time limit
    int exitCode = -1;     // -1 unless it exited normally
    QByteArray out;
    QByteArray err;
    qint64 elapsedMs = 0;

    QStringList outLines() const;
    QStringList errLines() const;
    QString describe() const; // exit code, stdout and stderr, for a failure message
};
// Runs `program` to its end with an empty stdin, in `workDir` (the temporary folder when
// empty); killed after `timeoutMs`.
ProgramRun runProgram(const QString &program, const QStringList &args,
                      const QProcessEnvironment &env, const QString &workDir = {},
                      int timeoutMs = 30000);

// Script files written for one test into a temporary folder.
class ScriptDir
{
public:
    ScriptDir();
    QString path() const { return m_dir.path(); }
    // Writes `content` to `name` and returns the absolute path.
    QString write(const QString &name, const QByteArray &content, bool executable = false);
    // Writes the script and loads it; fails the calling test (QVERIFY) on rejection.
    TaskSpec spec(const QString &name, const QByteArray &content);

private:
    QTemporaryDir m_dir;
};

// Collects every batch an Engine publishes, on the test's thread.
class UpdateRecorder
{
public:
    explicit UpdateRecorder(Engine *engine);
    int batches() const { return m_batches; }
    // Ids in the order their first Running (or later) state was published.
    const QList<TaskId> &started() const { return m_started; }
    QStringList logOf(TaskId id) const { return m_logs.value(id); }

private:
    int m_batches = 0;
    QList<TaskId> m_started;
    QHash<TaskId, QStringList> m_logs;
};

// The state of `id` as the engine sees it now.
TaskState stateOf(const Engine &engine, TaskId id);

// True once the task's live stack shows it suspended (waiting on something).
bool isSuspended(const Engine &engine, TaskId id);

// Lines of the file (each task in an ordering test appends its name to it).
QStringList readLines(const QString &path);

// Splits RFC 4180 text into records of fields: commas outside quotes split, "" inside
// quotes is a quote, CRLF ends a record (quoted fields may hold anything).
QList<QStringList> parseCsv(const QString &text);

// A full disk without root: while alive, this process cannot grow a file past `bytes`
// (RLIMIT_FSIZE), and a write that would fails (EFBIG, as SQLite reports an I/O error or
// "database or disk is full") instead of raising SIGXFSZ, which is ignored meanwhile.
// lift() (or the end of its scope) restores both.
class FileSizeLimit
{
public:
    explicit FileSizeLimit(qint64 bytes);
    ~FileSizeLimit() { lift(); }
    FileSizeLimit(const FileSizeLimit &) = delete;
    FileSizeLimit &operator=(const FileSizeLimit &) = delete;
    bool isSet() const { return m_set; }
    void lift();
    // The same for a child process, between fork and exec (QProcess's child process
    // modifier): the limit and the ignored signal are inherited through exec.
    static void setInChild(qint64 bytes);

private:
    bool m_set = false;
    quint64 m_oldSoft = 0;
    void (*m_oldHandler)(int) = nullptr;
};
