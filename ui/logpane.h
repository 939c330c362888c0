#pragma once

#include "tasksnapshot.h"

#include <QWidget>

#include <optional>

class Engine;
class QLabel;
class QPlainTextEdit;

// The log of the selected task: read whole from the engine when a task is selected,
// then extended by the lines each batch brings; it follows the end unless the user has
// scrolled up. Main thread.
class LogPane : public QWidget
{
    Q_OBJECT
public:
    static constexpr int MaxLines = 20000;

    explicit LogPane(Engine *engine, QWidget *parent = nullptr);

    void setTask(std::optional<TaskId> id);
    std::optional<TaskId> task() const { return m_task; }
    // The new lines of a batch; those of other tasks are ignored.
    void appendLogs(const QList<LogLines> &logs);

    QPlainTextEdit *view() const { return m_view; }

private:
    Engine *m_engine;
    std::optional<TaskId> m_task;
    QLabel *m_title;
    QPlainTextEdit *m_view;
    bool m_skipQueued = false;
    quint64 m_generation = 0;
};
