#pragma once

#include "tasksource.h"

#include <QTableView>

#include <functional>
#include <optional>

class QAction;
class QMenu;
class ColumnChooser;
class TaskDetails;
class TaskFilterProxyModel;
class TaskItemDelegate;
class TaskTableModel;

// The task table over a task source, with what the user does to its tasks: the model,
// filter proxy and delegate, the task actions (with their shortcuts, enabled by the
// selection), the context menu, the selection and the current task, drag-to-reorder and
// export. The window around it puts its actions into menus and toolbar and shows what it
// reports (statusMessage, filesRejected). Main thread.
class TaskView : public QTableView
{
    Q_OBJECT
public:
    explicit TaskView(TaskSource *source, QWidget *parent = nullptr);
    ~TaskView() override;

    TaskTableModel *taskModel() const { return m_model; }
    TaskFilterProxyModel *filterModel() const { return m_proxy; }
    TaskItemDelegate *taskDelegate() const { return m_delegate; }
    QMenu *contextMenu() const { return m_contextMenu; }
    // The header's menu of columns (also under View > Columns).
    ColumnChooser *columnChooser() const { return m_columns; }

    // The task actions, by what they do; each is also added to this view, so that its
    // shortcut works wherever the view's window is active.
    enum Action {
        Cancel,
        CancelPending,
        CancelAll,
        MoveToTop,
        MoveToBottom,
        RaisePriority,
        LowerPriority,
        EditPriority,
        RetryFailed,
        Rerun,
        ClearFinished,
        Export,
        Details,
        ActionCount
    };
    QAction *action(Action which) const { return m_actions[which]; }

    // Applies the engine part of a batch to the model; until the user picks a task, makes a
    // running one current.
    void applyUpdate(const EngineUpdate &update);
    // Once a second: repaints live durations and countdowns, follows a running task.
    void refreshLive();

    // The tasks of the selected rows, in the table's order (the current one when none).
    QList<TaskId> selectedTasks() const;
    std::optional<TaskId> currentTask() const;
    // Selects the row of `id` and makes it current.
    bool selectTask(TaskId id);

    // Tells the view how the queue is paused, for what "Re-run" says about new tasks that
    // wait: `groupsPaused` answers the groups paused now, `queuePaused` whether all is.
    void setPauseState(std::function<bool()> queuePaused,
                       std::function<QStringList()> groupsPaused);

    // Writes the tasks to export (the selected rows, or every row the filters show when
    // none is selected), in the table's order, to `path`: CSV for a .csv name, JSON lines
    // otherwise (see TaskExport). Reports by statusMessage; on failure passes the reason
    // to `done`. The tasks are asked of the source: the file is written once it answers,
    // and `done` (if any) called then with whether it was.
    using ExportDone = std::function<void(bool written, const QString &error)>;
    void exportTasks(const QString &path, ExportDone done = {});
    // What exportTasks() writes: the selected tasks, or all shown when none is selected.
    QList<TaskId> tasksToExport() const;

    // Enables the actions that apply to the selection.
    void updateActions();

public Q_SLOTS:
    void cancelSelected();
    void cancelAllPending();
    void cancelAll();
    // What the actions run: ask first, then do it and say what was done.
    void confirmCancelAllPending();
    void confirmCancelAll();
    void confirmClearFinished();
    void moveSelectedToTop();
    void moveSelectedToBottom();
    void raiseSelectedPriority();
    void lowerSelectedPriority();
    void editPriority();
    // Reads the failed tasks' scripts again and submits them as new tasks; the failed rows
    // stay, with their errors, linked to their retries ("retried as #N"), and are not
    // retried again.
    void retryFailed();
    // Runs the selected finished tasks (interrupted ones included) again with the same
    // definition, as new tasks; their rows stay. Returns how many it asked to re-run.
    int rerunSelected();
    void clearFinished();
    void exportWithDialog();
    // Opens the details of the current task (double-click, Return, Ctrl+I).
    TaskDetails *showDetails();

Q_SIGNALS:
    // The task the stack and log panes show.
    void currentTaskChanged(std::optional<TaskId> id);
    // What the view has to say, for the window's status bar (`timeoutMs` as showMessage).
    void statusMessage(const QString &text, int timeoutMs);
    // Scripts "Retry failed" could not read again, `file:line: reason` each.
    void filesRejected(const QStringList &reasons);
    // Rows were removed by the user (clear finished, retry failed).
    void tasksRemoved();

protected:
    bool viewportEvent(QEvent *event) override;

private:
    void createActions();
    void onCurrentRowChanged();
    // While the pointer is over the table, the row under it stays under it when rows come,
    // go or move above it (new failures with a state filter on): remembered before the
    // change, scrolled back after it.
    void rememberRowUnderPointer();
    void keepRowUnderPointer();
    void followRunningTask();
    void changeSelectedPriority(int delta);
    // The finished ones among the selected tasks (or the current one), in the table's order.
    QList<TaskId> selectedFinishedTasks() const;
    void forget(const QList<TaskId> &ids);

    TaskSource *m_source;
    TaskTableModel *m_model;
    TaskFilterProxyModel *m_proxy;
    TaskItemDelegate *m_delegate;
    QAction *m_actions[ActionCount] = {};
    QMenu *m_contextMenu = nullptr;
    ColumnChooser *m_columns = nullptr;
    std::function<bool()> m_queuePaused;
    std::function<QStringList()> m_groupsPaused;
    QString m_exportPath;            // the last file exported to, offered again
    bool m_followRunning = true;     // until the user selects a task
    std::optional<QPoint> m_pointer; // in the viewport, while the pointer is over it
    TaskId m_anchorId = 0;           // the task under it before a change, and its row
    int m_anchorRow = -1;
    bool m_selectingAutomatically = false;
};
