#pragma once

#include "engine.h"

#include <QObject>
#include <QSet>
#include <QStringList>

#include <memory>

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

private:
    void onUpdate(const EngineUpdate &update);
    void report(const TaskSnapshot &task);
    void drawProgress(const EngineCounts &counts);
    void clearProgress();
    void checkInterrupt();
    static QString childrenText(const StackNode &node, int depth);

    std::unique_ptr<Engine> m_engine;
    QSet<TaskId> m_waiting; // submitted, not yet reported finished
    QHash<TaskId, QString> m_labels;
    int m_submitted = 0;
    bool m_json = false;
    bool m_progressLine = false;
    bool m_progressShown = false;
    bool m_rejected = false;
    bool m_anyUnsuccessful = false;
    int m_interrupts = 0;
    int m_exitCode = 0;
};
