// The task table alone over a real engine (SPEC section 7), without the window around it:
// its actions are enabled by the selection and reach the engine, its context menu holds
// them, moving a task to the top changes what the engine runs first, and the current
// task is signalled for the panes.
#include "testsupport.h"

#include "columnchooser.h"
#include "localtasksource.h"
#include "taskdetails.h"
#include "taskfilterproxymodel.h"
#include "tasktablemodel.h"
#include "taskview.h"

#include <QAction>
#include <QApplication>
#include <QHeaderView>
#include <QItemSelectionModel>
#include <QMenu>
#include <QScrollBar>
#include <QSpinBox>
#include <QTest>
#include <QTextBrowser>

namespace {

QString quoted(const QString &s)
{
    return u'"' + s + u'"';
}

// A Lua task that appends its name to `orderFile` and ends.
QByteArray appendName(const QString &orderFile)
{
    return QStringLiteral("local f = assert(io.open(%1, 'a'))\nf:write(task.name, '\\n')\n"
                          "f:close()\n")
        .arg(quoted(orderFile))
        .toUtf8();
}

TaskSpec named(TaskSpec spec, const QString &name)
{
    spec.name = name;
    return spec;
}

// A view over `engine` fed with the source's batches, as the window feeds it.
struct Fixture
{
    explicit Fixture(Engine *engine)
        : source(engine)
        , view(&source)
    {
        QObject::connect(&source, &TaskSource::batch, &view,
                         [this](const TaskSourceBatch &batch) { view.applyUpdate(batch.update); });
    }
    LocalTaskSource source;
    TaskView view;
};

bool allFinished(const Engine &engine, const QList<TaskId> &ids)
{
    for (TaskId id : ids)
        if (!isFinished(stateOf(engine, id)))
            return false;
    return true;
}

} // namespace

class tst_TaskView : public QObject
{
    Q_OBJECT

private Q_SLOTS:
    void actionsAreEnabledByTheSelection()
    {
        ScriptDir dir;
        const TaskSpec spec = dir.spec("t.lua", "return 1\n");
        Engine engine(Engine::Options{.publishIntervalMs = 20});
        engine.pause();
        Fixture f(&engine);
        TaskView &view = f.view;
        const QList<QAction *> needATask = {
            view.action(TaskView::Cancel),        view.action(TaskView::MoveToTop),
            view.action(TaskView::MoveToBottom),  view.action(TaskView::RaisePriority),
            view.action(TaskView::LowerPriority), view.action(TaskView::EditPriority)};
        // No task, nothing to act on; what acts on all tasks stays enabled.
        for (QAction *action : needATask)
            QVERIFY2(!action->isEnabled(), qPrintable(action->objectName()));
        QVERIFY(!view.action(TaskView::Rerun)->isEnabled());
        QVERIFY(view.action(TaskView::CancelPending)->isEnabled());
        QVERIFY(view.action(TaskView::ClearFinished)->isEnabled());

        const QList<TaskId> ids = engine.submit(QList<TaskSpec>{spec, spec});
        QTRY_COMPARE(view.taskModel()->rowCount(), 2);
        QVERIFY(view.selectTask(ids[0]));
        for (QAction *action : needATask)
            QVERIFY2(action->isEnabled(), qPrintable(action->objectName()));
        // A pending task cannot be re-run; a finished one can.
        QVERIFY(!view.action(TaskView::Rerun)->isEnabled());
        engine.cancel(ids[1]);
        QTRY_COMPARE(view.taskModel()->row(view.taskModel()->rowOf(ids[1])).state,
                     TaskState::Cancelled);
        QVERIFY(view.selectTask(ids[1]));
        QVERIFY(view.action(TaskView::Rerun)->isEnabled());

        // Neither selected nor current: disabled again.
        view.selectionModel()->clear();
        QCOMPARE(view.selectedTasks(), QList<TaskId>());
        for (QAction *action : needATask)
            QVERIFY2(!action->isEnabled(), qPrintable(action->objectName()));
        QVERIFY(!view.action(TaskView::Rerun)->isEnabled());
    }

    void cancelActionCancelsTheSelectedTaskInTheEngine()
    {
        ScriptDir dir;
        const TaskSpec spec = dir.spec("t.lua", "return 1\n");
        Engine engine(Engine::Options{.publishIntervalMs = 20});
        engine.pause();
        Fixture f(&engine);
        const QList<TaskId> ids = engine.submit(QList<TaskSpec>{spec, spec, spec});
        QTRY_COMPARE(f.view.taskModel()->rowCount(), 3);
        QVERIFY(f.view.selectTask(ids[1]));
        f.view.action(TaskView::Cancel)->trigger();
        QTRY_COMPARE(stateOf(engine, ids[1]), TaskState::Cancelled);

        // Its shortcut works in the view alone, without a window's menus.
        f.view.show();
        QVERIFY(QTest::qWaitForWindowExposed(&f.view));
        QApplication::setActiveWindow(&f.view);
        QVERIFY(f.view.selectTask(ids[2]));
        f.view.setFocus();
        QTest::keyClick(&f.view, Qt::Key_Delete);
        QTRY_COMPARE(stateOf(engine, ids[2]), TaskState::Cancelled);
        QCOMPARE(stateOf(engine, ids[0]), TaskState::Pending);
    }

    void contextMenuHoldsTheTaskActions()
    {
        ScriptDir dir;
        const TaskSpec spec = dir.spec("t.lua", "return 1\n");
        Engine engine(Engine::Options{.publishIntervalMs = 20});
        engine.pause();
        Fixture f(&engine);
        QMenu *menu = f.view.contextMenu();
        QVERIFY(menu);
        const QList<QAction *> actions = menu->actions();
        for (TaskView::Action which :
             {TaskView::Rerun, TaskView::Cancel, TaskView::MoveToTop, TaskView::MoveToBottom,
              TaskView::EditPriority, TaskView::Export})
            QVERIFY2(actions.contains(f.view.action(which)),
                     qPrintable(f.view.action(which)->objectName()));

        // Asked for over a row, it pops up with the actions enabled for that row.
        const TaskId id = engine.submit(spec);
        QTRY_COMPARE(f.view.taskModel()->rowCount(), 1);
        f.view.show();
        QVERIFY(QTest::qWaitForWindowExposed(&f.view));
        QVERIFY(f.view.selectTask(id));
        Q_EMIT f.view.customContextMenuRequested(QPoint(5, 5));
        QTRY_VERIFY(menu->isVisible());
        QVERIFY(f.view.action(TaskView::Cancel)->isEnabled());
        menu->close();
    }

    void moveToTopActionChangesWhatTheEngineRunsFirst()
    {
        ScriptDir dir;
        const QString order = dir.path() + "/order";
        const TaskSpec base = dir.spec("t.lua", appendName(order));
        Engine engine(Engine::Options{.maxRunning = 1, .publishIntervalMs = 20});
        engine.pause();
        Fixture f(&engine);
        const QList<TaskId> ids =
            engine.submit(QList<TaskSpec>{named(base, "a"), named(base, "b"), named(base, "c")});
        QTRY_COMPARE(f.view.taskModel()->rowCount(), 3);
        QVERIFY(f.view.selectTask(ids[2]));
        f.view.action(TaskView::MoveToTop)->trigger();
        QVERIFY(f.view.selectTask(ids[0]));
        f.view.action(TaskView::MoveToBottom)->trigger();
        // Requests reach the engine in the order they were made: the moves before the resume.
        engine.resume();
        QTRY_VERIFY_WITH_TIMEOUT(allFinished(engine, ids), 10000);
        QCOMPARE(readLines(order), QStringList({"c", "b", "a"}));
    }

    void movedTaskMovesInTheTableSortedByQueueWhilePaused()
    {
        ScriptDir dir;
        const TaskSpec spec = dir.spec("t.lua", "return 1\n");
        Engine engine(Engine::Options{.publishIntervalMs = 20});
        engine.pause();
        Fixture f(&engine);
        const QList<TaskId> ids = engine.submit(QList<TaskSpec>{spec, spec, spec, spec});
        QTRY_COMPARE(f.view.taskModel()->rowCount(), 4);
        f.view.show();
        QVERIFY(QTest::qWaitForWindowExposed(&f.view));
        // Sorted by the queue column, as a user clicks its header.
        const int queueSection =
            f.view.horizontalHeader()->sectionViewportPosition(TaskTableModel::QueuePosition);
        QTest::mouseClick(f.view.horizontalHeader()->viewport(), Qt::LeftButton, {},
                          QPoint(queueSection + 10, 5));
        QCOMPARE(f.view.horizontalHeader()->sortIndicatorSection(),
                 int(TaskTableModel::QueuePosition));
        const auto firstRow = [&f] {
            return f.view.filterModel()->index(0, 0).data(TaskTableModel::IdRole).value<TaskId>();
        };
        const auto lastRow = [&f] {
            return f.view.filterModel()->index(3, 0).data(TaskTableModel::IdRole).value<TaskId>();
        };
        QTRY_COMPARE(firstRow(), ids[0]);
        QVERIFY(f.view.selectTask(ids[2]));
        f.view.action(TaskView::MoveToTop)->trigger();
        QTRY_COMPARE(firstRow(), ids[2]);
        QCOMPARE(f.view.filterModel()->index(0, TaskTableModel::QueuePosition).data().toString(),
                 QStringLiteral("1"));
        QVERIFY(f.view.selectTask(ids[0]));
        f.view.action(TaskView::MoveToBottom)->trigger();
        QTRY_COMPARE(lastRow(), ids[0]);
        QCOMPARE(f.view.filterModel()->index(3, TaskTableModel::QueuePosition).data().toString(),
                 QStringLiteral("4"));
    }

    void priorityEditorCoversTheOldValue()
    {
        ScriptDir dir;
        const TaskSpec spec = dir.spec("t.lua", "return 1\n");
        Engine engine(Engine::Options{.publishIntervalMs = 20});
        engine.pause();
        Fixture f(&engine);
        const TaskId id = engine.submit(spec);
        QTRY_COMPARE(f.view.taskModel()->rowCount(), 1);
        f.view.show();
        QVERIFY(QTest::qWaitForWindowExposed(&f.view));
        QVERIFY(f.view.selectTask(id));
        f.view.setFocus();
        QTest::keyClick(&f.view, Qt::Key_F2);
        QSpinBox *editor = nullptr;
        QTRY_VERIFY((editor = f.view.viewport()->findChild<QSpinBox *>()));
        QVERIFY(editor->autoFillBackground());
        const QRect cell =
            f.view.visualRect(f.view.filterModel()->index(0, TaskTableModel::Priority));
        QCOMPARE(editor->geometry(), cell);
    }

    void doubleClickOpensTheDetailsWithTheDefinitionAndTheWholeError()
    {
        ScriptDir dir;
        const TaskSpec spec = dir.spec("bad.lua", "-- @timeout 30s\n-- @retries 1\n"
                                                  "-- @retry-delay 0ms\n-- @arg city=Oslo\n"
                                                  "local function inner() error('boom') end\n"
                                                  "inner()\n");
        Engine engine(Engine::Options{.publishIntervalMs = 20});
        Fixture f(&engine);
        const TaskId id = engine.submit(spec);
        QTRY_VERIFY(isFinished(stateOf(engine, id)));
        QTRY_VERIFY(f.view.taskModel()->rowOf(id) >= 0 &&
                    isFinished(f.view.taskModel()->row(f.view.taskModel()->rowOf(id)).state));
        f.view.show();
        QVERIFY(QTest::qWaitForWindowExposed(&f.view));
        QVERIFY(f.view.selectTask(id));
        const QRect name = f.view.visualRect(f.view.filterModel()->index(0, TaskTableModel::Name));
        QTest::mouseDClick(f.view.viewport(), Qt::LeftButton, {}, name.center());
        TaskDetails *details = nullptr;
        QTRY_VERIFY((details = f.view.findChild<TaskDetails *>()));
        QCOMPARE(details->task(), id);
        QTRY_VERIFY(details->view()->toPlainText().contains("city=Oslo"));
        const QString text = details->view()->toPlainText();
        QVERIFY2(text.contains(spec.file), qPrintable(text));
        QVERIFY2(text.contains("30.0 s") || text.contains("30 s"), qPrintable(text));
        QVERIFY2(text.contains("2 of 2"), qPrintable(text)); // the attempts
        QVERIFY2(text.contains("boom"), qPrintable(text));
        QVERIFY2(text.contains("inner"), qPrintable(text)); // the stack where it ended
        details->close();
        // Ctrl+I opens it too.
        f.view.setFocus();
        QApplication::setActiveWindow(&f.view);
        QTest::keyClick(&f.view, Qt::Key_I, Qt::ControlModifier);
        QTRY_VERIFY(f.view.findChild<TaskDetails *>());
    }

    void columnChooserHidesAndShowsTheModelsColumns()
    {
        ScriptDir dir;
        Engine engine(Engine::Options{.publishIntervalMs = 20});
        Fixture f(&engine);
        f.view.show();
        QVERIFY(QTest::qWaitForWindowExposed(&f.view));
        QHeaderView *header = f.view.horizontalHeader();
        // Its menu pops up on the header and lists every column the model has.
        Q_EMIT header->customContextMenuRequested(QPoint(5, 5));
        QMenu *menu = f.view.columnChooser()->menu();
        QTRY_VERIFY(menu->isVisible());
        QCOMPARE(menu->actions().size(), f.view.model()->columnCount());
        QAction *group =
            menu->findChild<QAction *>(QStringLiteral("column_%1").arg(int(TaskTableModel::Group)));
        QVERIFY(group);
        QCOMPARE(group->text(), QStringLiteral("Group"));
        QVERIFY(group->isChecked());
        menu->close();
        group->trigger();
        QVERIFY(header->isSectionHidden(TaskTableModel::Group));
        f.view.columnChooser()->refresh();
        group =
            menu->findChild<QAction *>(QStringLiteral("column_%1").arg(int(TaskTableModel::Group)));
        QVERIFY(!group->isChecked());
        group->trigger();
        QVERIFY(!header->isSectionHidden(TaskTableModel::Group));
    }

    void rowUnderThePointerStaysWhileRowsArriveAboveIt()
    {
        Engine engine(Engine::Options{.publishIntervalMs = 20});
        Fixture f(&engine);
        TaskTableModel *model = f.view.taskModel();
        const auto failed = [](TaskId id, TaskState state = TaskState::Failed) {
            TaskSnapshot t;
            t.id = id;
            t.name = QStringLiteral("t%1").arg(id);
            t.state = state;
            t.attempt = 1;
            t.startedAtMs = 1000;
            if (isFinished(state)) {
                t.finishedAtMs = 2000;
                t.error = QStringLiteral("boom");
            }
            return t;
        };
        EngineUpdate first;
        for (TaskId id = 1; id <= 20; ++id)
            first.changed.append(failed(id, TaskState::Running));
        for (TaskId id = 100; id < 160; ++id)
            first.changed.append(failed(id));
        model->applyUpdate(first);
        f.view.filterModel()->setStateFilter(TaskFilterProxyModel::StateFilter::Failed);
        f.view.resize(500, 300);
        f.view.show();
        QVERIFY(QTest::qWaitForWindowExposed(&f.view));
        f.view.scrollTo(f.view.filterModel()->index(20, 0), QAbstractItemView::PositionAtTop);
        const QPoint pointer = f.view.visualRect(f.view.filterModel()->index(23, 1)).center();
        QTest::mouseMove(f.view.viewport(), pointer);
        const TaskId pointed = f.view.indexAt(pointer).data(TaskTableModel::IdRole).value<TaskId>();
        QVERIFY(pointed >= 100);
        // Five earlier tasks fail: their rows come in above the pointer.
        EngineUpdate later;
        for (TaskId id = 1; id <= 5; ++id)
            later.changed.append(failed(id));
        model->applyUpdate(later);
        QCOMPARE(f.view.filterModel()->rowCount(), 65);
        QCOMPARE(f.view.indexAt(pointer).data(TaskTableModel::IdRole).value<TaskId>(), pointed);
        // Once the pointer has left, rows may move again.
        QEvent leave(QEvent::Leave);
        QApplication::sendEvent(f.view.viewport(), &leave);
        const int scroll = f.view.verticalScrollBar()->value();
        EngineUpdate more;
        more.changed.append(failed(6));
        model->applyUpdate(more);
        QCOMPARE(f.view.verticalScrollBar()->value(), scroll);
    }

    void standardKeysReachTheTableAndReorderingIsOnAlt()
    {
        ScriptDir dir;
        const TaskSpec spec = dir.spec("t.lua", "return 1\n");
        Engine engine(Engine::Options{.publishIntervalMs = 20});
        engine.pause();
        Fixture f(&engine);
        const QList<TaskId> ids = engine.submit(QList<TaskSpec>{spec, spec, spec, spec});
        QTRY_COMPARE(f.view.taskModel()->rowCount(), 4);
        f.view.show();
        QVERIFY(QTest::qWaitForWindowExposed(&f.view));
        QApplication::setActiveWindow(&f.view);
        f.view.setFocus();
        QVERIFY(f.view.selectTask(ids[2]));
        // Ctrl+Home goes to the first row, as in every table; the queue is left alone.
        QTest::keyClick(&f.view, Qt::Key_Home, Qt::ControlModifier);
        QCOMPARE(f.view.currentTask(), std::optional<TaskId>(ids[0]));
        QTest::keyClick(&f.view, Qt::Key_End, Qt::ControlModifier);
        QCOMPARE(f.view.currentTask(), std::optional<TaskId>(ids[3]));
        QTest::qWait(100);
        QCOMPARE(engine.task(ids[3])->sequence > engine.task(ids[0])->sequence, true);
        // Alt+Home moves the selected task to the top of the queue.
        QVERIFY(f.view.selectTask(ids[3]));
        QTest::keyClick(&f.view, Qt::Key_Home, Qt::AltModifier);
        QTRY_VERIFY(engine.task(ids[3])->sequence < engine.task(ids[0])->sequence);
    }

    void selectingATaskMakesItTheCurrentTask()
    {
        ScriptDir dir;
        const TaskSpec spec = dir.spec("t.lua", "return 1\n");
        Engine engine(Engine::Options{.publishIntervalMs = 20});
        engine.pause();
        Fixture f(&engine);
        QList<std::optional<TaskId>> told;
        QObject::connect(&f.view, &TaskView::currentTaskChanged,
                         [&told](std::optional<TaskId> id) { told.append(id); });
        const QList<TaskId> ids = engine.submit(QList<TaskSpec>{spec, spec});
        QTRY_COMPARE(f.view.taskModel()->rowCount(), 2);
        // Until the user picks one, a task is made current for the panes.
        QTRY_VERIFY(!told.isEmpty());
        QVERIFY(f.view.selectTask(ids[1]));
        QCOMPARE(told.constLast(), std::optional<TaskId>(ids[1]));
        QCOMPARE(f.view.currentTask(), std::optional<TaskId>(ids[1]));
        QCOMPARE(f.view.selectedTasks(), QList<TaskId>{ids[1]});
    }
};

QTEST_MAIN(tst_TaskView)
#include "tst_taskview.moc"
