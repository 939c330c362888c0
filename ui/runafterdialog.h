#pragma once

#include "taskdependency.h"

#include <QDialog>

class QCheckBox;
class QLineEdit;
class QListWidget;
class TaskTableModel;

// "Run after...": picks the tasks that the selected pending tasks are to wait for, from
// the task table (unfinished ones first), and whether any end will do (--after-ended)
// rather than success (--after). Main thread.
class RunAfterDialog : public QDialog
{
    Q_OBJECT
public:
    // At most this many tasks are offered (the unfinished ones, then the latest ended).
    static constexpr int MaxListed = 5000;

    RunAfterDialog(const TaskTableModel &model, const QList<TaskId> &waiting,
                   QWidget *parent = nullptr);

    // The tasks checked, as dependencies.
    TaskDependencies dependencies() const;
    // Checks the task `id` (tests, and a task given by the caller).
    void check(TaskId id);
    void setAnyEnd(bool anyEnd);

private:
    void filter(const QString &text);

    QLineEdit *m_filter;
    QListWidget *m_list;
    QCheckBox *m_anyEnd;
};
