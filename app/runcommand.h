#pragma once

#include "engine.h"

#include <QObject>
#include <QSet>
#include <QStringList>

#include <memory>
#include <utility>
#include <vector>

// `taskdeck run [options] FILE...`: runs task scripts headless until all have ended
// (SPEC section 5). Lives on the main thread.
class RunCommand : public QObject
{
    Q_OBJECT
public:
    // Exit statuses
    enum { AllSucceeded = 0, SomeFailed = 1, UsageError = 2 };

    // Parses `arguments` (after "run"); returns an exit status to stop at once with, or -1
    // when the run has started and exec() should follow.
    int start(const QStringList &arguments);
    int exitCode() const { return m_exitCode; }
    // After exec(): stops the engine's runs and ends the process with `status` without
    // freeing what the tasks left behind (returns only in sanitizer builds).
    int leave(int status);

private:
    void onUpdate(const EngineUpdate &update);
    void report(const TaskSnapshot &task);
    void drawProgress(const EngineCounts &counts);
    void clearProgress();
    void checkInterrupt();
    static QString childrenText(const StackNode &node, int depth);

    QString label(TaskId id) const;

    std::unique_ptr<Engine> m_engine;
    // Submitted, not yet reported finished: ids run from m_firstId on (the engine hands
    // them out in order), one flag each; 100,000 tasks cost no hash or string each.
    TaskId m_firstId = 0;
    std::vector<bool> m_reported;
    qsizetype m_unreported = 0;
    // Labels "#id name": each run of ids with the same script, by its first id.
    std::vector<std::pair<TaskId, QString>> m_names;
    QByteArray m_out; // what one batch prints
    int m_submitted = 0;
    bool m_json = false;
    bool m_progressLine = false;
    bool m_progressShown = false;
    bool m_rejected = false;
    bool m_anyUnsuccessful = false;
    int m_interrupts = 0;
    int m_exitCode = 0;
};
